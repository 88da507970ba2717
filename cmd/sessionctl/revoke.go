package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessiondb/sessiondb"
)

func cmdRevoke(ctx context.Context, a *app, args []string) int {
	fs := a.flagSet("revoke")
	fs.help("sessionctl revoke ID", `
Ends one session at once: its token stops working on the next validation.
Exits with 4 when there was no live session with that id (unknown, expired
or already revoked), so running it twice is harmless.`, `
  sessionctl revoke 0a3Xq1d9vVb2mWw7tHk`)
	rest, code := a.parse(fs, args, true)
	if code >= 0 {
		return code
	}
	if code := a.wantArgs(rest, "ID"); code >= 0 {
		return code
	}
	id := rest[0]
	if code := a.checkID("ID", id); code >= 0 {
		return code
	}
	m, cfg, code := a.open()
	if code >= 0 {
		return code
	}
	defer m.Store().Close()
	err := m.InvalidateByID(ctx, id)
	if errors.Is(err, sessiondb.ErrNotFound) {
		a.errorf("no live session %s (unknown, expired or already revoked)", id)
		return exitNotFound
	}
	if err != nil {
		return a.fail(cfg, err)
	}
	fmt.Fprintf(a.stdout, "revoked session %s\n", id)
	return exitOK
}
