package native

import (
	"context"
	"strings"

	"github.com/azkeep/azkeep/internal/azconfig"
)

// writeLoginProfile writes azureProfile.json as az login leaves it
// (_normalize_properties, then _set_subscriptions: the first enabled
// subscription is the default) and records the default in clouds.config.
// Subscriptions already in the profile are replaced by this login's.
func writeLoginProfile(ctx context.Context, dir, cloud, tenant, username string, subs []armSubscription) error {
	def := -1
	for i, s := range subs {
		if s.State == "Enabled" {
			def = i
			break
		}
	}
	if def < 0 && len(subs) > 0 {
		def = 0
	}
	var list []*azconfig.Subscription
	for i, s := range subs {
		sub := &azconfig.Subscription{
			ID:              subscriptionID(s),
			Name:            s.DisplayName,
			State:           s.State,
			User:            azconfig.User{Name: username, Type: "user"},
			IsDefault:       i == def,
			TenantID:        tenant,
			EnvironmentName: cloud,
			// az maps the list's tenantId (2019-11-01) to homeTenantId and
			// the tenant it asked as to tenantId.
			HomeTenantID: s.TenantID,
		}
		if s.ManagedByTenants != nil {
			sub.ManagedByTenants = []string{}
			for _, t := range *s.ManagedByTenants {
				sub.ManagedByTenants = append(sub.ManagedByTenants, t.TenantID)
			}
		}
		list = append(list, sub)
	}
	if err := azconfig.UpdateProfile(ctx, dir, func(p *azconfig.Profile) error {
		p.Subscriptions = list
		return nil
	}); err != nil {
		return err
	}
	if def >= 0 {
		return azconfig.SetCloudSubscription(dir, cloud, subscriptionID(subs[def]))
	}
	return nil
}

func subscriptionID(s armSubscription) string {
	if s.SubscriptionID != "" {
		return s.SubscriptionID
	}
	return s.ID[strings.LastIndex(s.ID, "/")+1:]
}
