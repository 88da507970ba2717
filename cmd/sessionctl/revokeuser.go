package main

import (
	"context"
	"fmt"

	"github.com/sessiondb/sessiondb"
)

func cmdRevokeUser(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("revoke-user")
	except := fs.String("except", "", "keep the session with this `ID` (\"log out my other devices\")")
	asJSON := fs.Bool("json", false, `print {"invalidated": N} instead of text`)
	fs.help("sessionctl revoke-user [--except ID] [--json] USER", `
Ends every session of a user, but the one named by --except, in one atomic
step, and prints how many live sessions it ended. An unknown user has none:
the count is 0 and the exit code 0.`, `
  sessionctl revoke-user user123
  sessionctl revoke-user user123 --except 0a3Xq1d9vVb2mWw7tHk`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest, "USER"); err != nil {
		return err
	}
	user := rest[0]
	if err := sessiondb.CheckUserID(user); err != nil {
		return a.usageError("USER: %v", err)
	}
	if *except != "" {
		if err := a.checkID("--except", *except); err != nil {
			return err
		}
	}
	m, _, err := a.open()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	n, err := m.InvalidateUser(ctx, user, *except)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := writeJSON(a.stdout, map[string]int{"invalidated": n}); err != nil {
			return err
		}
		return nil
	}
	fmt.Fprintf(a.stdout, "revoked %d session(s) of user %s\n", n, text(user))
	return nil
}
