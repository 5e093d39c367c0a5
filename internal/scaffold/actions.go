package scaffold

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"catalogd/internal/catalog"
)

// Schema helpers: the action schemas are written as Go values.
func obj(required []string, props map[string]any) map[string]any {
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		r := make([]any, len(required))
		for i, x := range required {
			r[i] = x
		}
		s["required"] = r
	}
	return s
}

func prop(typ, desc string) map[string]any {
	return map[string]any{"type": typ, "description": desc}
}

func strList(desc string) map[string]any {
	return map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": desc}
}

// builtinActions returns the actions every Engine has.
func builtinActions() []*action {
	gitAuthor := map[string]any{
		"gitAuthorName":  prop("string", "Author and committer name of the commit (default Scaffolder)"),
		"gitAuthorEmail": prop("string", "Author and committer email of the commit"),
	}
	with := func(m map[string]any, extra map[string]any) map[string]any {
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	return []*action{
		{
			id:            "fetch:template",
			description:   "Renders a skeleton folder (relative to the template, or a forge folder URL) into the workspace: ${{ values.x }} and {% %} blocks in contents and file names.",
			workspaceOnly: true,
			input: obj([]string{"url"}, map[string]any{
				"url":                   prop("string", "The skeleton folder: ./skeleton, file:///abs/dir, or https://host/owner/repo/tree/<branch>/<path>"),
				"targetPath":            prop("string", "Where in the workspace to write (default the workspace root)"),
				"values":                prop("object", "The values the skeleton sees as values.*"),
				"copyWithoutTemplating": strList("Globs (doublestar) of skeleton paths copied without rendering their contents"),
				"copyWithoutRender":     strList("Deprecated name of copyWithoutTemplating"),
				"templateFileExtension": map[string]any{"type": []any{"boolean", "string"}, "description": "Render only files with this extension (true: .njk), which is removed"},
				"cookiecutterCompat":    prop("boolean", "Accepted and ignored"),
			}),
			output: obj(nil, map[string]any{}),
			run:    fetchTemplate,
		},
		{
			id:            "fetch:plain",
			description:   "Copies a folder (relative to the template, or a forge folder URL) into the workspace as it is.",
			workspaceOnly: true,
			input: obj([]string{"url"}, map[string]any{
				"url":        prop("string", "The folder to copy"),
				"targetPath": prop("string", "Where in the workspace to write (default the workspace root)"),
			}),
			output: obj(nil, map[string]any{}),
			run:    fetchPlain,
		},
		{
			id:          "publish:git",
			description: "Commits the workspace and pushes it to a git remote (file:// under the allowed directories, or http(s), ssh, git:// on an allowed host); never forces.",
			input: obj([]string{"remoteUrl"}, with(map[string]any{
				"remoteUrl":     prop("string", "The remote's URL"),
				"branch":        prop("string", "The branch to push (default main)"),
				"sourcePath":    prop("string", "The workspace folder to commit (default the workspace root)"),
				"commitMessage": prop("string", "The commit message (default Initial commit)"),
				"username":      prop("string", "User name for token authentication over http(s) (default x-access-token)"),
				"token":         prop("string", "Token for http(s) remotes (default the secret token)"),
			}, gitAuthor)),
			output: obj(nil, map[string]any{
				"remoteUrl":     prop("string", "The remote's URL, without credentials"),
				"commitHash":    prop("string", "The commit pushed"),
				"branchCreated": prop("boolean", "Whether the push created the branch (rollback deletes only such a branch)"),
			}),
			run:  publishGit,
			undo: undoPublishGit,
		},
		{
			id:          "publish:github",
			description: "Creates a GitHub repository (description, visibility, topics, team access, default branch) and pushes the workspace to it; finds the repository again when run twice.",
			input: obj([]string{"repoUrl"}, with(map[string]any{
				"repoUrl":          prop("string", "Where: github.com?owner=o&repo=r"),
				"description":      prop("string", "The repository's description"),
				"homepage":         prop("string", "The repository's homepage"),
				"repoVisibility":   map[string]any{"type": "string", "enum": []any{"private", "internal", "public"}, "description": "Default private"},
				"defaultBranch":    prop("string", "Default main"),
				"topics":           strList("Repository topics"),
				"access":           prop("string", "org/team-slug or a user login given admin access"),
				"sourcePath":       prop("string", "The workspace folder to commit (default the workspace root)"),
				"gitCommitMessage": prop("string", "The commit message (default Initial commit)"),
				"allowedHosts":     strList("Hosts repoUrl may name"),
				"token":            prop("string", "Token (default the secret token)"),
			}, gitAuthor)),
			output: obj(nil, map[string]any{
				"remoteUrl":       prop("string", "The clone URL"),
				"repoContentsUrl": prop("string", "The URL of the default branch's contents"),
				"commitHash":      prop("string", "The commit pushed"),
				"created":         prop("boolean", "Whether this task created the repository (rollback deletes only such a repository)"),
			}),
			run:  publishGitHub,
			undo: undoPublishGitHub,
		},
		{
			id:            "catalog:write",
			description:   "Writes an entity as a catalog-info.yaml file into the workspace.",
			workspaceOnly: true,
			input: obj([]string{"entity"}, map[string]any{
				"filePath": prop("string", "Default catalog-info.yaml"),
				"entity":   prop("object", "The entity to write"),
			}),
			output: obj(nil, map[string]any{}),
			run:    catalogWrite,
		},
		{
			id:          "catalog:register",
			description: "Registers a descriptor's location in the catalog: catalogInfoUrl, or repoContentsUrl plus catalogInfoPath, or a git remote URL from publish:git.",
			input: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"catalogInfoUrl":  prop("string", "The descriptor's URL"),
					"repoContentsUrl": prop("string", "The repository contents URL (publish:github's output)"),
					"catalogInfoPath": prop("string", "The descriptor's path in the repository (default /catalog-info.yaml)"),
					"remoteUrl":       prop("string", "A git remote URL (publish:git's output): the repository is registered as a git location"),
					"optional":        prop("boolean", "A failed registration is logged, not an error"),
				},
				"anyOf": []any{
					map[string]any{"required": []any{"catalogInfoUrl"}},
					map[string]any{"required": []any{"repoContentsUrl"}},
					map[string]any{"required": []any{"remoteUrl"}},
				},
			},
			output: obj(nil, map[string]any{
				"entityRef":      prop("string", "The first entity the location yields"),
				"catalogInfoUrl": prop("string", "The registered target"),
			}),
			run: catalogRegister,
		},
		{
			id:            "debug:log",
			description:   "Writes a message (and optionally the workspace's file list) to the task's log.",
			workspaceOnly: true,
			input: obj(nil, map[string]any{
				"message":       prop("string", "The message"),
				"listWorkspace": prop("boolean", "Also log every file of the workspace"),
			}),
			output: obj(nil, map[string]any{}),
			run:    debugLog,
		},
	}
}

func catalogWrite(_ context.Context, ac *actionContext) (map[string]any, error) {
	p, err := workspacePath(str(ac.input, "filePath", "catalog-info.yaml"))
	if err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(ac.input["entity"])
	if err != nil {
		return nil, catalog.Errorf(catalog.EINVALID, "entity: %s", excerpt(err.Error(), 200))
	}
	ac.budget.bytes -= int64(len(b))
	if ac.budget.bytes < 0 {
		return nil, catalog.Errorf(catalog.EINVALID, "the task writes more than %d bytes", ac.e.opts.Limits.MaxTotalBytes)
	}
	ws, err := os.OpenRoot(ac.workspace)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	if err := ws.MkdirAll(path.Dir(p), 0o755); err != nil {
		return nil, err
	}
	if err := ws.WriteFile(p, b, 0o644); err != nil {
		return nil, err
	}
	ac.logf("wrote %s", p)
	return map[string]any{}, nil
}

func catalogRegister(ctx context.Context, ac *actionContext) (map[string]any, error) {
	target := str(ac.input, "catalogInfoUrl", "")
	if target == "" {
		if base := str(ac.input, "repoContentsUrl", ""); base != "" {
			target = strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(str(ac.input, "catalogInfoPath", "/catalog-info.yaml"), "/")
		} else {
			target = str(ac.input, "remoteUrl", "")
		}
	}
	if ac.e.opts.Register == nil {
		return nil, catalog.Errorf(catalog.EINVALID, "catalog:register is not available on this server")
	}
	refs, err := ac.e.opts.Register(ctx, target)
	if err != nil {
		if b, _ := ac.input["optional"].(bool); b {
			ac.logf("registering %s failed (optional): %s", target, err.Error())
			return map[string]any{"catalogInfoUrl": target}, nil
		}
		var ce *catalog.Error
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, catalog.Errorf(EUNAVAILABLE, "registering %s: %s", excerpt(target, 200), excerpt(err.Error(), 200))
	}
	out := map[string]any{"catalogInfoUrl": target}
	if len(refs) > 0 {
		out["entityRef"] = refs[0]
	}
	ac.logf("registered %s: %s", target, strings.Join(refs, ", "))
	return out, nil
}

func debugLog(_ context.Context, ac *actionContext) (map[string]any, error) {
	if m := str(ac.input, "message", ""); m != "" {
		ac.logf("%s", m)
	}
	if b, _ := ac.input["listWorkspace"].(bool); b {
		n := 0
		err := filepath.WalkDir(ac.workspace, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if n++; n > 1000 {
				return fs.SkipAll
			}
			rel, _ := filepath.Rel(ac.workspace, p)
			ac.logf("workspace: %s", filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return map[string]any{}, nil
}
