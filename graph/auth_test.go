package graph

import (
	"context"
	"log/slog"
	"testing"

	"catalogd/internal/auth"
	"catalogd/internal/catalog"
)

// The policy's denials reach callers with the codes the README promises.
func TestPolicyDenialsAreForbiddenOrUnauthenticated(t *testing.T) {
	pol := auth.NewPolicy(nil, false)
	reader := &auth.Principal{Kind: auth.KindUser, Name: "jane@example.com", Roles: []string{auth.RoleReader}}
	for _, tc := range []struct {
		p    *auth.Principal
		code string
	}{
		{reader, "FORBIDDEN"},
		{nil, "UNAUTHENTICATED"},
		{auth.Anonymous(), "UNAUTHENTICATED"},
	} {
		err := pol.Authorize(tc.p, auth.ActionLocationWrite, auth.Resource{})
		got := presentError(context.Background(), err, slog.New(slog.DiscardHandler))
		if got.Extensions["code"] != tc.code || got.Message != err.Error() {
			t.Errorf("%+v: code %v message %q, want %s", tc.p, got.Extensions["code"], got.Message, tc.code)
		}
	}
	if err := pol.Authorize(auth.Local(), auth.ActionLocationWrite, auth.Resource{}); catalog.ErrorCode(err) != "" {
		t.Errorf("the local admin is denied: %v", err)
	}
}

func TestViewerWithoutPrincipalIsUnauthenticated(t *testing.T) {
	r := &queryResolver{}
	if _, err := r.Viewer(context.Background()); catalog.ErrorCode(err) != catalog.EUNAUTHENTICATED {
		t.Errorf("err = %v", err)
	}
	v, err := r.Viewer(auth.WithPrincipal(context.Background(), auth.Anonymous()))
	if err != nil || v.Kind != "anonymous" || v.Ref != nil || v.Roles == nil || v.Groups == nil {
		t.Errorf("anonymous viewer = %+v, %v", v, err)
	}
}
