package fhir

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// bundle is a FHIR Bundle as the server writes it (searchset, history,
// batch-response, transaction-response, and $everything's searchset).
type bundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id,omitempty"`
	Meta         *bundleMeta   `json:"meta,omitempty"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleMeta struct {
	LastUpdated string `json:"lastUpdated,omitempty"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *entrySearch    `json:"search,omitempty"`
	Request  *entryRequest   `json:"request,omitempty"`
	Response *entryResponse  `json:"response,omitempty"`
}

type entrySearch struct {
	Mode string `json:"mode,omitempty"` // match, include, outcome
}

type entryRequest struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	IfMatch     string `json:"ifMatch,omitempty"`
	IfNoneExist string `json:"ifNoneExist,omitempty"`
}

type entryResponse struct {
	Status       string          `json:"status"`
	Location     string          `json:"location,omitempty"`
	Etag         string          `json:"etag,omitempty"`
	LastModified string          `json:"lastModified,omitempty"`
	Outcome      json.RawMessage `json:"outcome,omitempty"`
}

// newBundle returns an empty Bundle of type typ, stamped now.
func newBundle(typ string) *bundle {
	return &bundle{ResourceType: "Bundle", Type: typ, Meta: &bundleMeta{LastUpdated: time.Now().UTC().Format(time.RFC3339Nano)}}
}

// baseURL is the absolute URL of Root as the client reached it
// (X-Forwarded-Proto is not trusted: a proxy that terminates TLS should
// pass the Host it serves and the server be told it runs behind TLS).
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + Root
}

// fullURL is the absolute URL of resource typ/id.
func fullURL(r *http.Request, typ, id string) string { return baseURL(r) + "/" + typ + "/" + id }

// addResource appends a resource with its fullUrl and search mode.
func (b *bundle) addResource(r *http.Request, typ, id string, body []byte, mode string) {
	e := bundleEntry{FullURL: fullURL(r, typ, id), Resource: body}
	if mode != "" {
		e.Search = &entrySearch{Mode: mode}
	}
	b.Entry = append(b.Entry, e)
}

// setTotal sets Bundle.total.
func (b *bundle) setTotal(n int) { b.Total = &n }

// link adds a link with relation rel to path (under Root) with query q.
func (b *bundle) link(r *http.Request, rel, path string, q url.Values) {
	u := baseURL(r) + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	b.Link = append(b.Link, bundleLink{Relation: rel, URL: u})
}

// versionLocation is the Location of a version: Type/id/_history/v.
func versionLocation(r *http.Request, typ, id string, version int) string {
	return fullURL(r, typ, id) + "/_history/" + strconv.Itoa(version)
}
