package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessiondb/sessiondb"
)

func cmdRevoke(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("revoke")
	fs.help("sessionctl revoke ID", `
Ends one session at once: its token stops working on the next validation.
Exits with 4 when there was no live session with that id (unknown, expired
or already revoked), so running it twice is harmless.`, `
  sessionctl revoke 0a3Xq1d9vVb2mWw7tHk`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest, "ID"); err != nil {
		return err
	}
	id := rest[0]
	if err := a.checkID("ID", id); err != nil {
		return err
	}
	m, _, err := a.open()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	err = m.InvalidateByID(ctx, id)
	if errors.Is(err, sessiondb.ErrNotFound) {
		return a.failf(exitNotFound, "no live session %s (unknown, expired or already revoked)", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "revoked session %s\n", id)
	return nil
}
