package rbac

import (
	"errors"
	"time"
)

// Engine defaults.
const (
	// DefaultMinReasonLength is the minimum number of characters of a
	// break-glass reason, without surrounding white space.
	DefaultMinReasonLength = 10
	// DefaultMaxGrantDuration is the longest a break-glass grant may last.
	DefaultMaxGrantDuration = 4 * time.Hour
)

// Engine decides requests against one Policy. It is immutable after New and
// safe for concurrent use; Decide does no I/O and does not allocate.
type Engine struct {
	policy    *Policy
	now       func() time.Time
	minReason int
	maxGrant  time.Duration
}

// Option configures an Engine in New.
type Option func(*Engine)

// WithClock sets the clock the engine checks break-glass expiry against
// (default time.Now). Tests use it to move time.
func WithClock(now func() time.Time) Option {
	return func(e *Engine) { e.now = now }
}

// WithMinReasonLength sets the minimum length, in characters, of a
// break-glass reason (default DefaultMinReasonLength). It must be at least 1.
func WithMinReasonLength(n int) Option {
	return func(e *Engine) { e.minReason = n }
}

// WithMaxGrantDuration sets the longest a break-glass grant may last
// (default DefaultMaxGrantDuration). Decide rejects a grant whose NotAfter
// is further than this from now, so a grant cannot be made open-ended.
func WithMaxGrantDuration(d time.Duration) Option {
	return func(e *Engine) { e.maxGrant = d }
}

// New returns an engine over policy p. It returns an error when p is nil or
// an option is out of range (a nil clock, a minimum reason length below 1,
// a maximum grant duration that is not positive).
func New(p *Policy, opts ...Option) (*Engine, error) {
	if p == nil {
		return nil, errors.New("rbac: new engine: nil policy")
	}
	e := &Engine{
		policy:    p,
		now:       time.Now,
		minReason: DefaultMinReasonLength,
		maxGrant:  DefaultMaxGrantDuration,
	}
	for _, o := range opts {
		if o != nil {
			o(e)
		}
	}
	switch {
	case e.now == nil:
		return nil, errors.New("rbac: new engine: nil clock")
	case e.minReason < 1:
		return nil, errors.New("rbac: new engine: minimum reason length must be at least 1")
	case e.maxGrant <= 0:
		return nil, errors.New("rbac: new engine: maximum grant duration must be positive")
	}
	return e, nil
}

// Default returns an engine over DefaultPolicy with the wall clock and the
// default limits.
func Default() *Engine {
	e, err := New(DefaultPolicy())
	if err != nil {
		panic(err) // unreachable: the default policy and options are valid
	}
	return e
}

// Policy returns the engine's policy.
func (e *Engine) Policy() *Policy { return e.policy }

// MinReasonLength returns the minimum length of a break-glass reason.
func (e *Engine) MinReasonLength() int { return e.minReason }

// MaxGrantDuration returns the longest a break-glass grant may last.
func (e *Engine) MaxGrantDuration() time.Duration { return e.maxGrant }

// Matrix returns what the engine's policy says about every role, action and
// kind.
func (e *Engine) Matrix() Matrix { return e.policy.Matrix() }

// Now returns the engine's current time: the time Decide judges a
// break-glass grant's expiry by.
func (e *Engine) Now() time.Time { return e.clock() }

func (e *Engine) clock() time.Time {
	if e.now == nil {
		return time.Now()
	}
	return e.now()
}

// Decide decides whether principal p may perform action a on a resource of
// kind k described by t. It is pure apart from reading the engine's clock
// (only when a break-glass grant is checked), safe for concurrent use, and
// does not allocate. Any input is accepted; a malformed one is denied with
// rule RuleInvalid.
//
// The steps:
//  1. p must have a user id, a tenant and roles, and a and k must be valid
//     (else RuleInvalid); t.TenantID must equal p.TenantID (else RuleTenant).
//  2. For each of p's roles that the policy knows, the rules for (role, a,
//     k) are looked up. A deny rule for any role denies at once: explicit
//     deny overrides allow, across all the principal's roles.
//  3. An allow rule allows when it is unconditional or one of its
//     conditions holds, tried in the order self, careteam, breakglass (so a
//     grant is only used when nothing else allows).
//  4. Otherwise the request is denied: by the allow rule whose conditions
//     did not hold, with the reason; or by RuleDefaultDeny.
func (e *Engine) Decide(p Principal, a Action, k Kind, t Target) Decision {
	switch {
	case e == nil || e.policy == nil:
		return Decision{Rule: RuleInvalid, Reason: reasonNoEngine}
	case p.UserID == "":
		return Decision{Rule: RuleInvalid, Reason: reasonNoUser}
	case p.TenantID == "":
		return Decision{Rule: RuleInvalid, Reason: reasonNoTenant}
	case len(p.Roles) == 0:
		return Decision{Rule: RuleInvalid, Reason: reasonNoRoles}
	case !a.Valid():
		return Decision{Rule: RuleInvalid, Reason: reasonBadAction}
	case !k.Valid():
		return Decision{Rule: RuleInvalid, Reason: reasonBadKind}
	case t.TenantID != p.TenantID:
		return Decision{Rule: RuleTenant, Reason: reasonOtherTenant}
	}

	pol := e.policy
	var (
		known   bool
		allow   uint16 // allow rule that matched, index+1
		via     Condition
		unmet   uint16 // allow rule whose conditions failed, index+1
		unmetBy string
	)
	for _, role := range p.Roles {
		ri, ok := pol.roleIndex[role]
		if !ok {
			continue
		}
		known = true
		c := pol.cellAt(ri, a, k)
		if c.deny != 0 {
			r := &pol.rules[c.deny-1]
			return Decision{Rule: r.id, Reason: r.denyReason}
		}
		if c.allow == 0 || allow != 0 {
			continue // nothing to allow, or already allowed: only look for denies
		}
		if cond, why := e.satisfy(c.when, p, t); why == "" {
			allow, via = c.allow, cond
		} else if unmet == 0 {
			unmet, unmetBy = c.allow, why
		}
	}
	switch {
	case allow != 0:
		return Decision{Allowed: true, Rule: pol.rules[allow-1].id, Reason: allowReason(via), Condition: via}
	case unmet != 0:
		return Decision{Rule: pol.rules[unmet-1].id, Reason: unmetBy}
	case !known:
		return Decision{Rule: RuleDefaultDeny, Reason: reasonUnknownRoles}
	}
	return Decision{Rule: RuleDefaultDeny, Reason: reasonNoRule}
}

// satisfy checks the conditions w of an allow rule. It returns the condition
// that holds (zero for an unconditional rule) and "", or the reason none
// holds.
func (e *Engine) satisfy(w conds, p Principal, t Target) (Condition, string) {
	if w == 0 {
		return 0, ""
	}
	if w&conds(ConditionSelf) != 0 && p.PatientID != "" && p.PatientID == t.PatientID {
		return ConditionSelf, ""
	}
	if w&conds(ConditionCareTeam) != 0 && t.OnCareTeam && t.PatientID != "" {
		return ConditionCareTeam, ""
	}
	if w&conds(ConditionBreakGlass) != 0 && t.Grant != nil {
		if why := e.grantProblem(p, t); why != "" {
			return 0, why
		}
		return ConditionBreakGlass, ""
	}
	return 0, unmetReasons[w]
}

// Authorize is Decide returning an error: nil when the request is allowed,
// otherwise a *DeniedError holding the Decision, which wraps ErrDenied. It
// allocates only when it denies.
func (e *Engine) Authorize(p Principal, a Action, k Kind, t Target) error {
	d := e.Decide(p, a, k, t)
	if d.Allowed {
		return nil
	}
	return &DeniedError{Decision: d}
}
