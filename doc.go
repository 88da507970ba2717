// Package sessiondb manages user sessions for a login service: create a
// session with a TTL and metadata, validate its token on every request,
// refresh, rotate, invalidate, list and revoke a user's sessions, enforce a
// per-user limit, clean up expired index entries and report statistics.
//
// # Tokens and ids
//
// [Manager.Create] and [Manager.Rotate] return a [Token]: "sdb_" and 51
// base64url characters carrying 256 random bits, shown once. Stores never see
// it: they keep the session under its id, a one-way hash of the token that is
// safe to show, list and log. A copy of the stored data therefore cannot be
// replayed as a login.
//
// # Stores
//
// A [Manager] keeps sessions in a [Store]: package memstore (in-process, the
// default when no Redis is configured) or package redisstore (Redis
// standalone, Sentinel or Cluster). Package config builds either from
// environment variables. Every store passes the conformance suite in package
// storetest.
//
// # Errors
//
// Methods return errors matching [ErrNotFound], [ErrSessionLimit],
// [ErrInvalidArgument] (an [*InvalidArgumentError] naming the field),
// [ErrUnavailable], [ErrStoreFull] and [ErrStoreAuth] (the store refused the
// credentials or a command: a configuration error, not worth retrying). Bad
// input never reaches the store.
//
// # Zero values
//
// One rule holds for every options struct of the module ([Options],
// redisstore.Options, sessiondclient.Options) and for [Limit]: a zero field
// means its documented default, and a negative value means none (no limit,
// no timeout, no retries, off) for the fields that say so; for the others
// it is an error. So MaxSessionsPerUser 0 is the default 5 and [NoLimit]
// (-1) is no limit. Settings read by package config (environment variables
// and flags) follow the operator's habit instead: their 0 means none, so
// MAX_SESSIONS_PER_USER=0 is no limit; package config translates.
//
// # Time
//
// A session ends at its [Record.EffectiveExpiry]: the absolute expiry, or,
// with an idle timeout, last activity plus the timeout if that is earlier.
// Validation writes the last-seen time back at most once per
// [Options.TouchInterval], so the common case is a single read.
package sessiondb
