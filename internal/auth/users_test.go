package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store"
)

const newPW = "another long passphrase"

func principal(name string, role auth.Role) auth.Principal {
	return auth.Principal{Name: name, Role: role, Kind: auth.KindUser}
}

func TestChangePassword(t *testing.T) {
	svc, clk, _ := setup(t)
	ctx := context.Background()
	vera, err := svc.Login(ctx, "vera", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		by            auth.Principal
		user, current string
		replacement   string
		want          error
	}{
		{"wrong current password", principal("vera", auth.RoleViewer), "vera", "not the password", newPW, auth.ErrUnauthenticated},
		{"weak new password", principal("vera", auth.RoleViewer), "vera", pw, "short", auth.ErrInvalid},
		{"another user's, as an operator", principal("oscar", auth.RoleOperator), "vera", pw, newPW, auth.ErrForbidden},
		{"an unknown user's, as an admin", principal("alice", auth.RoleAdmin), "nobody", "", newPW, store.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := svc.ChangePassword(ctx, tc.by, tc.user, tc.current, tc.replacement, "192.0.2.1:1"); !errors.Is(err, tc.want) {
				t.Errorf("ChangePassword = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := svc.Authenticate(ctx, vera.AccessToken); err != nil {
		t.Fatalf("a refused change ended the session: %v", err)
	}
	// Her own change, with the current password, ends every session.
	if err := svc.ChangePassword(ctx, principal("vera", auth.RoleViewer), "vera", pw, newPW, "192.0.2.1:1"); err != nil {
		t.Fatalf("ChangePassword(self): %v", err)
	}
	if _, err := svc.Authenticate(ctx, vera.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("access token issued before the change = %v, want refused", err)
	}
	if _, err := svc.Refresh(ctx, vera.RefreshToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("refresh token issued before the change = %v, want refused", err)
	}
	clk.Advance(time.Second)
	if _, err := svc.Login(ctx, "vera", pw, "192.0.2.1:1"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("login with the old password = %v, want refused", err)
	}
	fresh, err := svc.Login(ctx, "vera", newPW, "192.0.2.1:1")
	if err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	if _, err := svc.Authenticate(ctx, fresh.AccessToken); err != nil {
		t.Errorf("a session started after the change is refused: %v", err)
	}
	// An admin sets it without knowing it; other users keep their sessions.
	oscar, err := svc.Login(ctx, "oscar", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := svc.ChangePassword(ctx, principal("alice", auth.RoleAdmin), "vera", "", pw, "192.0.2.9:1"); err != nil {
		t.Fatalf("ChangePassword(by an admin): %v", err)
	}
	if _, err := svc.Authenticate(ctx, fresh.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("vera's session survived the admin's change: %v", err)
	}
	if _, err := svc.Authenticate(ctx, oscar.AccessToken); err != nil {
		t.Errorf("another user's session ended: %v", err)
	}
}

func TestChangePasswordThrottled(t *testing.T) {
	svc, _, _ := setup(t)
	ctx := context.Background()
	for i := range 5 {
		if err := svc.ChangePassword(ctx, principal("vera", auth.RoleViewer), "vera", "guess number "+string(rune('a'+i)), newPW, "192.0.2.1:1"); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if err := svc.ChangePassword(ctx, principal("vera", auth.RoleViewer), "vera", pw, newPW, "192.0.2.1:1"); !errors.Is(err, auth.ErrThrottled) {
		t.Errorf("change after 5 wrong current passwords = %v, want ErrThrottled", err)
	}
}

func TestDeleteUser(t *testing.T) {
	svc, clk, st := setup(t)
	ctx := context.Background()
	vera, err := svc.Login(ctx, "vera", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := svc.CreateAPIToken(ctx, principal("vera", auth.RoleViewer), "ci", auth.RoleViewer, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		by   auth.Principal
		user string
		want error
	}{
		{"as an operator", principal("oscar", auth.RoleOperator), "vera", auth.ErrForbidden},
		{"unknown", principal("alice", auth.RoleAdmin), "nobody", store.ErrNotFound},
		{"the last admin", principal("alice", auth.RoleAdmin), "alice", auth.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := svc.DeleteUser(ctx, tc.by, tc.user); !errors.Is(err, tc.want) {
				t.Errorf("DeleteUser = %v, want %v", err, tc.want)
			}
		})
	}
	if err := svc.DeleteUser(ctx, principal("alice", auth.RoleAdmin), "vera"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	for name, cred := range map[string]string{"access token": vera.AccessToken, "API token": secret} {
		if _, err := svc.Authenticate(ctx, cred); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("the deleted user's %s = %v, want refused", name, err)
		}
	}
	if _, err := svc.Refresh(ctx, vera.RefreshToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("the deleted user's refresh token = %v, want refused", err)
	}
	if _, err := svc.Login(ctx, "vera", pw, "192.0.2.1:1"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("the deleted user logged in: %v", err)
	}
	// A new user of the same name starts afresh.
	clk.Advance(time.Second)
	if _, err := svc.CreateUser(ctx, "vera", newPW, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	again, err := svc.Login(ctx, "vera", newPW, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, again.AccessToken); err != nil {
		t.Errorf("the new vera's session is refused: %v", err)
	}
	if n, err := st.CountUsers(ctx); err != nil || n != 3 {
		t.Errorf("CountUsers = %d, %v; want 3", n, err)
	}
}

func TestRehashOnParameterChange(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	st := openStore(t)
	old := newService(t, st, clk)
	if _, err := old.CreateUser(ctx, "vera", pw, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	u, err := st.GetUser(ctx, "vera")
	if err != nil {
		t.Fatal(err)
	}
	stronger := auth.PasswordParams{Time: 2, MemoryKiB: 128, Threads: 1}
	if !auth.NeedsRehash(u.PasswordHash, stronger) || auth.NeedsRehash(u.PasswordHash, cheap) {
		t.Fatalf("NeedsRehash disagrees with the parameters of %s", u.PasswordHash)
	}
	svc, err := auth.NewService(ctx, st, auth.Config{Password: stronger, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := svc.Login(ctx, "vera", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	u2, err := st.GetUser(ctx, "vera")
	if err != nil {
		t.Fatal(err)
	}
	if u2.PasswordHash == u.PasswordHash || auth.NeedsRehash(u2.PasswordHash, stronger) {
		t.Errorf("after login the stored hash is %s; want one with t=2, m=128", u2.PasswordHash)
	}
	if ok, err := auth.VerifyPassword(pw, u2.PasswordHash); !ok || err != nil {
		t.Errorf("the rehashed password does not verify: %v, %v", ok, err)
	}
	// A rehash is not a password change: the session stays.
	if _, err := svc.Authenticate(ctx, pair.AccessToken); err != nil {
		t.Errorf("session refused after a rehash: %v", err)
	}
	if _, err := svc.Login(ctx, "vera", pw, "192.0.2.1:1"); err != nil {
		t.Errorf("second login: %v", err)
	}
	if u3, _ := st.GetUser(ctx, "vera"); u3.PasswordHash != u2.PasswordHash {
		t.Error("a hash with the current parameters was rehashed again")
	}
}

// TestThrottleHoldsUnderABurst: guesses sent all at once get through the
// throttle no more than MaxFailures plus the hashes in flight.
func TestThrottleHoldsUnderABurst(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	const slots = 2
	svc, err := auth.NewService(ctx, st, auth.Config{Password: cheap, MaxConcurrentHashes: slots})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, "vera", pw, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	const guesses = 60
	errs := make(chan error, guesses)
	start := make(chan struct{})
	for i := range guesses {
		go func() {
			<-start
			_, err := svc.Login(ctx, "vera", "guess number "+string(rune('A'+i)), "192.0.2.1:1")
			errs <- err
		}()
	}
	close(start)
	verified := 0
	for range guesses {
		err := <-errs
		switch {
		case errors.Is(err, auth.ErrThrottled):
		case errors.Is(err, auth.ErrUnauthenticated):
			verified++
		default:
			t.Errorf("guess: %v", err)
		}
	}
	// 5 is the per-user limit (auth.DefaultUserThrottle).
	if verified < 5 || verified > 5+slots-1 {
		t.Errorf("%d of %d parallel guesses were checked against the password, want 5 to %d", verified, guesses, 5+slots-1)
	}
}
