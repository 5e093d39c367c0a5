package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// DocSite is the rendered documentation of one entity (its backstage.io/techdocs-ref): the
// site's name and navigation, read from the same source and revision as the entity. Rows are
// named by the entity's ref, as relations are, and written in the apply of the location that
// manages the entity.
type DocSite struct {
	ent.Schema
}

func (DocSite) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_ref").Unique(),
		field.String("location").Comment("key of the location whose read wrote it"),
		field.String("site_name").Default(""),
		field.Bytes("nav").Optional().Comment("navigation tree as JSON"),
		field.String("hash").Default("").Comment("hash of mkdocs.yml, for skipping unchanged sites"),
		field.String("revision").Default(""),
		field.Time("updated_at").Default(time.Now),
	}
}

func (DocSite) Indexes() []ent.Index {
	return []ent.Index{index.Fields("location")}
}

func (DocSite) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("doc_sites"), entgql.Skip()}
}

// DocPage is one rendered Markdown page of a DocSite: sanitised HTML, its plain text and
// headings (for search), and the hash of the Markdown it was rendered from, so a page whose
// bytes did not change is not rendered again.
type DocPage struct {
	ent.Schema
}

func (DocPage) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_ref"),
		field.String("path").Comment("path of the Markdown file under docs_dir, e.g. guide/setup.md"),
		field.String("title"),
		field.Text("text").Default("").Comment("plain text of the page"),
		field.Text("html"),
		field.Bytes("headings").Optional().Comment("headings as JSON: level, text, anchor"),
		field.String("hash").Comment("hash of the Markdown source"),
		field.Int("position").Default(0).Comment("order of the page in the site"),
		field.String("revision").Default(""),
		field.Time("updated_at").Default(time.Now),
	}
}

func (DocPage) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_ref", "path").Unique()}
}

func (DocPage) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("doc_pages"), entgql.Skip()}
}

// DocAsset is a file of a DocSite other than a page (an image, say), stored so it can be
// served after the read that found it has released its checkout.
type DocAsset struct {
	ent.Schema
}

func (DocAsset) Fields() []ent.Field {
	return []ent.Field{
		field.String("entity_ref"),
		field.String("path"),
		field.String("content_type"),
		field.Bytes("data"),
		field.String("hash"),
	}
}

func (DocAsset) Indexes() []ent.Index {
	return []ent.Index{index.Fields("entity_ref", "path").Unique()}
}

func (DocAsset) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("doc_assets"), entgql.Skip()}
}
