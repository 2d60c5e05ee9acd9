// Package agent keeps active sessions fresh in the background: the
// scheduler behind `azkeep agent`.
//
// It is a timer, not a polling loop: after each pass it sleeps until the
// earliest moment something is due (a session entering its rotation
// window, plus a little jitter so that many agents do not hit the token
// endpoint together, or a back-off retry), or until the state file changes
// (a session started or stopped by the CLI), whichever comes first. Where
// the OS offers no change notification it re-reads the state at most once
// per Rescan.
//
// Failures: a network or server error is retried with exponential back-off
// (capped so that a retry still lands before az's 5-minute limit when it
// can); a refresh token the endpoint rejects marks the integration "needs
// login" (the lifecycle does that) and the agent says so once in its log
// and leaves that integration alone until it is online again.
//
// The agent and the CLI share nothing but the state file and its locks:
// a rotation started by the CLI (lazy rotation) and one by the agent
// serialise on the lifecycle's lock, and the second finds nothing due.
//
// Install and Uninstall (service.go) run the agent as a user service under
// systemd or launchd.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/azkeep/azkeep/internal/azure"
)

// Item is one session the agent keeps fresh.
type Item struct {
	ID    string // session id
	Label string // what the log calls it: "<subscription name> (<config dir>)"
	// Integration and IntegrationAlias name the session's integration.
	Integration, IntegrationAlias string
	// Due is when the session enters its rotation window.
	Due time.Time
	// NeedsLogin is set when the integration's refresh token was rejected.
	NeedsLogin bool
}

// Source is what the scheduler drives; LifecycleSource (source.go) is the
// real one, over internal/lifecycle.
type Source interface {
	// Plan lists the active sessions and when each is due.
	Plan(ctx context.Context) ([]Item, error)
	// Rotate rotates session id if it is due and returns when it is due
	// next. An error for which azure.IsNeedsLogin holds means the
	// integration needs a new login.
	Rotate(ctx context.Context, id string) (next time.Time, err error)
}

// Clock is the agent's view of time; tests pass a fake.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives after d, and a stop func.
	After(d time.Duration) (<-chan time.Time, func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) After(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// Options tune a Scheduler. Zero values take the defaults noted.
type Options struct {
	// Window is the rotation window (used only to size jitter and
	// back-off; the Source decides what is due). Default 20m.
	Window time.Duration
	// Jitter is the most a wake-up is delayed past a due time. Default
	// min(30s, (Window-5m)/4).
	Jitter time.Duration
	// MinBackoff and MaxBackoff bound the retry delay after a failure.
	// Defaults 1s and clamp((Window-5m)/3, 5s, 5m).
	MinBackoff, MaxBackoff time.Duration
	// Rescan is the longest sleep without re-reading the plan (default
	// 1m; the state-file watcher usually wakes the agent sooner).
	Rescan time.Duration
	// RotateTimeout bounds one rotation (default 2m). A rotation is never
	// cancelled by shutdown: the agent lets it finish, so that a refresh
	// token the endpoint has already rotated reaches the vault.
	RotateTimeout time.Duration
	// Changes, when set, wakes the agent to re-read the plan (the state
	// file changed).
	Changes <-chan struct{}
	// Clock is the clock (the wall clock when nil).
	Clock Clock
	// Log receives one line per event (nil: discarded). Never a secret.
	Log io.Writer
	// OnPlan, when set, is called after every pass with what is scheduled
	// (agent status is written from it).
	OnPlan func(Status)
	// Rand returns a value in [0,1) (math/rand when nil); tests fix it.
	Rand func() float64
}

// azMargin is az's own refresh margin (MSAL treats a token with less than
// 5 minutes left as expired).
const azMargin = 5 * time.Minute

func (o *Options) defaults() {
	if o.Window <= 0 {
		o.Window = 20 * time.Minute
	}
	slack := o.Window - azMargin
	if slack < 0 {
		slack = 0
	}
	if o.Jitter <= 0 {
		o.Jitter = min(30*time.Second, slack/4)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = max(5*time.Second, min(5*time.Minute, slack/3))
	}
	if o.Rescan <= 0 {
		o.Rescan = time.Minute
	}
	if o.RotateTimeout <= 0 {
		o.RotateTimeout = 2 * time.Minute
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
}

// Scheduled is one entry of Status.
type Scheduled struct {
	ID    string    `json:"session"`
	Label string    `json:"label"`
	At    time.Time `json:"at"`
	// State is "scheduled", "retrying" or "needs-login".
	State string `json:"state"`
}

// Status is what the agent is waiting for.
type Status struct {
	Updated time.Time   `json:"updated"`
	Wake    time.Time   `json:"wake,omitzero"`
	Next    []Scheduled `json:"next"`
}

// Scheduler runs the rotation loop.
type Scheduler struct {
	src  Source
	opts Options

	mu      sync.Mutex
	retry   map[string]retryState // session id → back-off
	flagged map[string]bool       // integrations whose needs-login was logged
}

type retryState struct {
	failures int
	at       time.Time
}

// New returns a scheduler over src.
func New(src Source, opts Options) *Scheduler {
	opts.defaults()
	return &Scheduler{src: src, opts: opts, retry: map[string]retryState{}, flagged: map[string]bool{}}
}

func (s *Scheduler) logf(format string, args ...any) {
	now := s.opts.Clock.Now().UTC().Format(time.RFC3339)
	fmt.Fprintf(s.opts.Log, "%s "+format+"\n", append([]any{now}, args...)...)
}

// Run rotates until ctx is done. A rotation in progress when ctx ends is
// finished first (bounded by RotateTimeout); Run then returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	s.logf("agent started (window %s)", s.opts.Window)
	for {
		wake := s.Pass(ctx)
		if ctx.Err() != nil {
			s.logf("agent stopped")
			return nil
		}
		d := wake.Sub(s.opts.Clock.Now())
		if d < 0 {
			d = 0
		}
		c, stop := s.opts.Clock.After(d)
		select {
		case <-ctx.Done():
			stop()
			s.logf("agent stopped")
			return nil
		case <-c:
		case <-s.opts.Changes:
			stop()
		}
	}
}

// Pass rotates everything due now and returns when to wake next.
func (s *Scheduler) Pass(ctx context.Context) time.Time {
	clock := s.opts.Clock
	items, err := s.src.Plan(ctx)
	if err != nil {
		s.logf("cannot read the sessions: %v", err)
		return clock.Now().Add(s.opts.MaxBackoff)
	}
	s.forgetGone(items)
	for i := range items {
		it := &items[i]
		if ctx.Err() != nil {
			break
		}
		if it.NeedsLogin {
			s.flag(it, nil)
			continue
		}
		s.unflag(it.Integration)
		now := clock.Now()
		if it.Due.After(now) {
			continue
		}
		if r, ok := s.retryOf(it.ID); ok && r.at.After(now) {
			continue
		}
		s.rotate(ctx, it)
	}
	return s.schedule(items)
}

// rotate runs one rotation, detached from ctx's cancellation: shutdown
// waits for it rather than abandoning a redeemed refresh token.
func (s *Scheduler) rotate(ctx context.Context, it *Item) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RotateTimeout)
	defer cancel()
	next, err := s.src.Rotate(rctx, it.ID)
	switch {
	case err == nil:
		s.mu.Lock()
		delete(s.retry, it.ID)
		s.mu.Unlock()
		if !next.IsZero() {
			it.Due = next
		}
		if now := s.opts.Clock.Now(); !it.Due.After(now) {
			// A token that is due again at once (its lifetime is shorter
			// than the window): do not hammer the endpoint.
			it.Due = now.Add(s.opts.MaxBackoff)
			s.logf("rotated %s, but its new token is already inside the window (token lifetime shorter than the window?); next attempt at %s", it.Label, it.Due.UTC().Format(time.RFC3339))
			return
		}
		s.logf("rotated %s; next rotation at %s", it.Label, it.Due.UTC().Format(time.RFC3339))
	case azure.IsNeedsLogin(err):
		it.NeedsLogin = true
		s.flag(it, err)
	default:
		s.mu.Lock()
		r := s.retry[it.ID]
		r.failures++
		delay := s.backoff(r.failures)
		r.at = s.opts.Clock.Now().Add(delay)
		s.retry[it.ID] = r
		s.mu.Unlock()
		s.logf("rotation of %s failed (attempt %d), retrying in %s: %v", it.Label, r.failures, delay.Round(time.Millisecond), err)
	}
}

// backoff is MinBackoff·2^(n-1), capped at MaxBackoff, with up to 20%
// subtracted at random so that retries of many agents spread out.
func (s *Scheduler) backoff(n int) time.Duration {
	d := s.opts.MinBackoff
	for i := 1; i < n && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	return d - time.Duration(float64(d)*0.2*s.opts.Rand())
}

func (s *Scheduler) retryOf(id string) (retryState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.retry[id]
	return r, ok
}

// flag logs an integration's needs-login once.
func (s *Scheduler) flag(it *Item, err error) {
	s.mu.Lock()
	done := s.flagged[it.Integration]
	s.flagged[it.Integration] = true
	s.mu.Unlock()
	if done {
		return
	}
	why := "its refresh token was rejected"
	var nl *azure.NeedsLoginError
	if errors.As(err, &nl) {
		why = nl.Error() // the endpoint's code and text, not the wrapping
	}
	s.logf("integration %q needs a new login (%s); its sessions are not rotated until you run: azkeep integration login %s", it.IntegrationAlias, why, it.IntegrationAlias)
}

func (s *Scheduler) unflag(integration string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.flagged, integration)
}

// forgetGone drops back-off state of sessions no longer active.
func (s *Scheduler) forgetGone(items []Item) {
	live := map[string]bool{}
	for _, it := range items {
		live[it.ID] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.retry {
		if !live[id] {
			delete(s.retry, id)
		}
	}
}

// schedule computes the next wake-up and reports the plan.
func (s *Scheduler) schedule(items []Item) time.Time {
	now := s.opts.Clock.Now()
	wake := now.Add(s.opts.Rescan)
	st := Status{Updated: now}
	for _, it := range items {
		e := Scheduled{ID: it.ID, Label: it.Label, At: it.Due, State: "scheduled"}
		switch {
		case it.NeedsLogin:
			e.State = "needs-login"
			e.At = time.Time{}
		default:
			if r, ok := s.retryOf(it.ID); ok {
				e.State, e.At = "retrying", r.at
			} else {
				// Jitter goes after the due time: the lifecycle rotates
				// only inside the window, and the window's slack over
				// az's 5 minutes bounds it.
				e.At = it.Due.Add(time.Duration(float64(s.opts.Jitter) * s.opts.Rand()))
			}
			if e.At.Before(wake) {
				wake = e.At
			}
		}
		st.Next = append(st.Next, e)
	}
	sort.Slice(st.Next, func(i, j int) bool { return st.Next[i].At.Before(st.Next[j].At) })
	st.Wake = wake
	if s.opts.OnPlan != nil {
		s.opts.OnPlan(st)
	}
	return wake
}

// ErrRunning is returned by Lock when another agent holds the home's lock.
var ErrRunning = errors.New("an agent is already running for this azkeep home")
