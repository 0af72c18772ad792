package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/paved-dev/paved/api"
)

// CatalogPath is where the server serves the Backstage catalog API.
const CatalogPath = "/api/catalog"

// CatalogEntity is a Backstage entity as the catalog API serves it (JSON-shaped values).
type CatalogEntity = map[string]any

// CatalogQuery selects entities for CatalogQueryEntities, with the catalog API's
// semantics: each Filter entry is "key=value,key2=value2" (all must hold) and an entity
// matches if any entry does; a key without "=value" only needs to exist.
type CatalogQuery struct {
	Filter      []string
	Fields      []string
	OrderFields []string // "metadata.name,asc"
	FullText    string
	// FullTextFields are the keys FullText is searched in; empty means the server's
	// default (the first order field, else metadata.uid, as in Backstage).
	FullTextFields []string
	Limit          int // 0: the server's default (200)
	// Cursor continues an earlier query; the other fields but Limit and Fields are then
	// ignored.
	Cursor string
	// Query is a Backstage filter predicate ({"kind": "component", "$not": {...}}, JSON);
	// when set the query is sent as POST /entities/by-query, and Filter must be empty.
	Query json.RawMessage
}

// CatalogPage is one page of CatalogQueryEntities.
type CatalogPage struct {
	Items      []CatalogEntity `json:"items"`
	TotalItems int64           `json:"totalItems"`
	PageInfo   struct {
		NextCursor string `json:"nextCursor,omitempty"`
		PrevCursor string `json:"prevCursor,omitempty"`
	} `json:"pageInfo"`
}

// CatalogLocation is a registered location.
type CatalogLocation struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Target string `json:"target"`
}

// CatalogAddLocationResult is what registering a location answers.
type CatalogAddLocationResult struct {
	Location CatalogLocation `json:"location"`
	Entities []CatalogEntity `json:"entities"`
	Exists   bool            `json:"exists,omitempty"`
}

// CatalogQueryEntities reads one page of entities (GET /api/catalog/entities/by-query, or
// POST with a predicate).
func (c *Client) CatalogQueryEntities(ctx context.Context, q CatalogQuery) (*CatalogPage, error) {
	if len(q.Query) > 0 && q.Cursor == "" {
		return c.catalogQueryPredicate(ctx, q)
	}
	v := url.Values{}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	} else {
		v["filter"] = q.Filter
		v["orderField"] = q.OrderFields
		if q.FullText != "" {
			v.Set("fullTextFilterTerm", q.FullText)
			if len(q.FullTextFields) > 0 {
				v.Set("fullTextFilterFields", strings.Join(q.FullTextFields, ","))
			}
		}
	}
	if len(q.Fields) > 0 {
		v.Set("fields", strings.Join(q.Fields, ","))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var p CatalogPage
	if err := c.catalogDo(ctx, http.MethodGet, "/entities/by-query", v, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// catalogQueryPredicate is CatalogQueryEntities with a predicate, in the body of a POST.
func (c *Client) catalogQueryPredicate(ctx context.Context, q CatalogQuery) (*CatalogPage, error) {
	if len(q.Filter) > 0 {
		return nil, errors.New("a catalog query takes a filter or a predicate, not both")
	}
	body := map[string]any{"query": q.Query}
	if len(q.Fields) > 0 {
		body["fields"] = q.Fields
	}
	if q.Limit > 0 {
		body["limit"] = q.Limit
	}
	var order []map[string]string
	for _, o := range q.OrderFields {
		field, dir, _ := strings.Cut(o, ",")
		if dir == "" {
			dir = "asc"
		}
		order = append(order, map[string]string{"field": field, "order": dir})
	}
	if len(order) > 0 {
		body["orderBy"] = order
	}
	if q.FullText != "" {
		ft := map[string]any{"term": q.FullText}
		if len(q.FullTextFields) > 0 {
			ft["fields"] = q.FullTextFields
		}
		body["fullTextFilter"] = ft
	}
	var p CatalogPage
	if err := c.catalogDo(ctx, http.MethodPost, "/entities/by-query", nil, body, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// CatalogEntities reads every entity matching filter (GET /api/catalog/entities), keeping
// only fields if any are given.
func (c *Client) CatalogEntities(ctx context.Context, filter, fields []string) ([]CatalogEntity, error) {
	v := url.Values{"filter": filter}
	if len(fields) > 0 {
		v.Set("fields", strings.Join(fields, ","))
	}
	var out []CatalogEntity
	if err := c.catalogDo(ctx, http.MethodGet, "/entities", v, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CatalogEntityByName reads one entity (GET /api/catalog/entities/by-name/...).
func (c *Client) CatalogEntityByName(ctx context.Context, kind, namespace, name string) (CatalogEntity, error) {
	var e CatalogEntity
	p := "/entities/by-name/" + url.PathEscape(kind) + "/" + url.PathEscape(namespace) + "/" + url.PathEscape(name)
	if err := c.catalogDo(ctx, http.MethodGet, p, nil, nil, &e); err != nil {
		return nil, err
	}
	return e, nil
}

// CatalogAddLocation registers a location of type "url" or "file" and reads it; with
// dryRun it only reports what the location yields.
func (c *Client) CatalogAddLocation(ctx context.Context, typ, target string, dryRun bool) (*CatalogAddLocationResult, error) {
	v := url.Values{}
	if dryRun {
		v.Set("dryRun", "true")
	}
	var r CatalogAddLocationResult
	body := map[string]string{"type": typ, "target": target}
	if err := c.catalogDo(ctx, http.MethodPost, "/locations", v, body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// CatalogLocations lists the registered locations.
func (c *Client) CatalogLocations(ctx context.Context) ([]CatalogLocation, error) {
	var wrapped []struct {
		Data CatalogLocation `json:"data"`
	}
	if err := c.catalogDo(ctx, http.MethodGet, "/locations", nil, nil, &wrapped); err != nil {
		return nil, err
	}
	out := make([]CatalogLocation, len(wrapped))
	for i, w := range wrapped {
		out[i] = w.Data
	}
	return out, nil
}

// CatalogRefresh asks the catalog to read the location of an entity ("kind:ns/name")
// again now.
func (c *Client) CatalogRefresh(ctx context.Context, entityRef string) error {
	return c.catalogDo(ctx, http.MethodPost, "/refresh", nil, map[string]string{"entityRef": entityRef}, nil)
}

// catalogDo sends one request to the catalog API. Its errors come in Backstage's shape
// ({error: {name, message}, response: {statusCode}}); they are returned as *api.Status
// with the reason of the status code, so callers treat them like every other API error.
func (c *Client) catalogDo(ctx context.Context, method, path string, q url.Values, body, out any) error {
	if c.baseErr != nil {
		return c.baseErr
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	u := c.base.String() + CatalogPath + path
	if enc := q.Encode(); enc != "" {
		u += "?" + enc
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the paved server at %s: %w", c.base.Redacted(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeCatalogError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s %s%s: decode answer: %w", method, CatalogPath, path, err)
	}
	return nil
}

// decodeCatalogError reads a Backstage error body; anything else (a Status from the
// server's authentication, a proxy's page) goes through decodeError.
func decodeCatalogError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var be struct {
		Error *struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &be) == nil && be.Error != nil && be.Error.Message != "" {
		st := api.NewError(reasonFor(resp.StatusCode), "%s", be.Error.Message)
		st.Code = resp.StatusCode
		return st
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return decodeError(resp)
}
