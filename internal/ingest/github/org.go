package github

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"catalogd/internal/catalog"
)

type ghTeam struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description"`
	HTMLURL     string `json:"html_url"`
	Parent      *struct {
		Slug string `json:"slug"`
	} `json:"parent"`
}

type ghUser struct {
	Login     string `json:"login"`
	AvatarURL string `json:"avatar_url"`
	HTMLURL   string `json:"html_url"`
	Name      string `json:"name"`
	Email     string `json:"email"`
}

var loginOrSlug = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// Backstage-shaped descriptors generated from the organisation.
type metadata struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type profile struct {
	DisplayName string `yaml:"displayName,omitempty"`
	Email       string `yaml:"email,omitempty"`
	Picture     string `yaml:"picture,omitempty"`
}

type groupSpec struct {
	Type     string   `yaml:"type"`
	Profile  *profile `yaml:"profile,omitempty"`
	Parent   string   `yaml:"parent,omitempty"`
	Children []string `yaml:"children"`
	Members  []string `yaml:"members,omitempty"`
}

type userSpec struct {
	Profile  *profile `yaml:"profile,omitempty"`
	MemberOf []string `yaml:"memberOf"`
}

type descriptor struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
	Spec       any      `yaml:"spec"`
}

// readOrg reads the organisation's teams (with their parents), their members and the
// organisation's members, and returns them as two multi-document YAML files.
func (p *Provider) readOrg(ctx context.Context) (groups, users []byte, err error) {
	org := url.PathEscape(p.cfg.owner)
	var teams []ghTeam
	err = pages(ctx, p.c, p.c.resolve("/orgs/"+org+"/teams?per_page=100"), func(items []ghTeam) error {
		for _, t := range items {
			if !loginOrSlug.MatchString(t.Slug) {
				return fmt.Errorf("a team with the slug %q", catalog.Excerpt(t.Slug, 100))
			}
			teams = append(teams, t)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(teams, func(i, j int) bool { return teams[i].Slug < teams[j].Slug })
	known := map[string]bool{}
	for _, t := range teams {
		known[t.Slug] = true
	}
	// GitHub lists a team's members with those of its child teams: a member is direct when
	// no child team has them.
	all := map[string]map[string]bool{}
	people := map[string]*ghUser{}
	addUser := func(u ghUser) error {
		if !loginOrSlug.MatchString(u.Login) {
			return fmt.Errorf("a user with the login %q", catalog.Excerpt(u.Login, 100))
		}
		if people[u.Login] == nil {
			people[u.Login] = &u
		}
		return nil
	}
	for _, t := range teams {
		all[t.Slug] = map[string]bool{}
		err := pages(ctx, p.c, p.c.resolve("/orgs/"+org+"/teams/"+url.PathEscape(t.Slug)+"/members?per_page=100"), func(items []ghUser) error {
			for _, u := range items {
				if err := addUser(u); err != nil {
					return err
				}
				all[t.Slug][u.Login] = true
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	err = pages(ctx, p.c, p.c.resolve("/orgs/"+org+"/members?per_page=100"), func(items []ghUser) error {
		for _, u := range items {
			if err := addUser(u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if p.cfg.UserProfiles {
		for _, login := range sortedKeys(people) {
			var u ghUser
			if _, err := p.c.getJSON(ctx, p.c.resolve("/users/"+url.PathEscape(login)), &u); err != nil {
				return nil, nil, err
			}
			people[login].Name, people[login].Email = u.Name, u.Email
		}
	}
	children := map[string][]string{}
	for _, t := range teams {
		if t.Parent != nil && known[t.Parent.Slug] {
			children[t.Parent.Slug] = append(children[t.Parent.Slug], t.Slug)
		}
	}
	memberOf := map[string][]string{}
	var gdocs []descriptor
	for _, t := range teams {
		var direct []string
		for login := range all[t.Slug] {
			inChild := false
			for _, c := range children[t.Slug] {
				if all[c][login] {
					inChild = true
				}
			}
			if !inChild {
				direct = append(direct, login)
				memberOf[login] = append(memberOf[login], t.Slug)
			}
		}
		sort.Strings(direct)
		spec := groupSpec{Type: "team", Children: []string{}, Members: direct}
		if t.Name != "" {
			spec.Profile = &profile{DisplayName: t.Name}
		}
		if t.Parent != nil && known[t.Parent.Slug] {
			spec.Parent = t.Parent.Slug
		}
		ann := map[string]string{"github.com/team-slug": p.cfg.owner + "/" + t.Slug}
		if t.HTMLURL != "" {
			ann["backstage.io/view-url"] = t.HTMLURL
		}
		gdocs = append(gdocs, descriptor{APIVersion: "backstage.io/v1alpha1", Kind: "Group",
			Metadata: metadata{Name: t.Slug, Description: t.Description, Annotations: ann}, Spec: spec})
	}
	var udocs []descriptor
	for _, login := range sortedKeys(people) {
		u := people[login]
		of := memberOf[login]
		sort.Strings(of)
		if of == nil {
			of = []string{}
		}
		spec := userSpec{MemberOf: of}
		pr := profile{DisplayName: u.Name, Email: u.Email, Picture: u.AvatarURL}
		if pr != (profile{}) {
			spec.Profile = &pr
		}
		udocs = append(udocs, descriptor{APIVersion: "backstage.io/v1alpha1", Kind: "User",
			Metadata: metadata{Name: login, Annotations: map[string]string{"github.com/user-login": login}}, Spec: spec})
	}
	if groups, err = encodeAll(gdocs); err != nil {
		return nil, nil, err
	}
	if users, err = encodeAll(udocs); err != nil {
		return nil, nil, err
	}
	return groups, users, nil
}

func encodeAll(docs []descriptor) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return []byte(strings.TrimPrefix(buf.String(), "{}\n")), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
