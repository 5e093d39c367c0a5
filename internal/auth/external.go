package auth

import (
	"context"
	"fmt"
)

// ExternalUser is the principal of a person another system vouches for (a Slack user whose
// request Slack signed), found among the User entities by match ("annotation:slack.com/user-id",
// "email", ...): their groups and roles as if they had signed in. Someone the directory does
// not know gets the roles bound to everyone (reader, and those bound to *). Without
// authentication configured, every caller is Local, as on every other route.
func (a *Authenticator) ExternalUser(ctx context.Context, system, match, value string) (*Principal, error) {
	if a == nil || !a.Enabled() {
		return Local(), nil
	}
	var ref string
	var groups []string
	if a.dir != nil && value != "" {
		var err error
		if ref, groups, err = a.dir.LookupUser(ctx, match, value); err != nil {
			return nil, fmt.Errorf("look up user: %w", err)
		}
	}
	p := &Principal{Kind: KindUser, Name: system + ":" + value, Ref: ref, Groups: groups}
	p.Roles = a.rolesOf(p)
	return p, nil
}
