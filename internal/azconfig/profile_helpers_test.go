package azconfig

import "strings"

// Default returns the subscription marked isDefault.
func (p *Profile) Default() (*Subscription, bool) {
	for _, s := range p.Subscriptions {
		if s.IsDefault {
			return s, true
		}
	}
	return nil, false
}

// ForTenant returns the subscriptions of tenantID.
func (p *Profile) ForTenant(tenantID string) []*Subscription {
	var out []*Subscription
	for _, s := range p.Subscriptions {
		if strings.EqualFold(s.TenantID, tenantID) {
			out = append(out, s)
		}
	}
	return out
}
