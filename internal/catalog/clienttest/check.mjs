// Drives paved's catalog API with Backstage's own @backstage/catalog-client and checks
// the answers. The server must hold the Backstage example corpus
// (../shared/conformance/backstage-catalog), as httpapi_client_test.go loads it.
//
//   PAVED_URL=http://127.0.0.1:7007 PAVED_TOKEN=... node check.mjs
//
// PAVED_LOCATION_FILE, if set, is a catalog file the server may read as a `file`
// location; the location checks then register, read and remove it.
//
// Prints one line per check and "N passed, M failed"; exits non-zero if any failed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CatalogClient, CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';

const baseUrl = process.env.PAVED_URL;
const token = process.env.PAVED_TOKEN;
const locationFile = process.env.PAVED_LOCATION_FILE;
if (!baseUrl) {
  console.error('PAVED_URL is not set');
  process.exit(2);
}

const client = new CatalogClient({
  discoveryApi: { getBaseUrl: async () => `${baseUrl}/api/catalog` },
});
const opts = token ? { token } : undefined;

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok    ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL  ${name}: ${err && err.stack ? err.stack : err}`);
  }
}

const ref = e =>
  `${e.kind}:${e.metadata.namespace ?? 'default'}/${e.metadata.name}`.toLocaleLowerCase('en-US');
const sorted = a => [...a].sort();

// Expects fn to fail with a ResponseError carrying Backstage's error body.
async function expectResponseError(fn, statusCode, name) {
  let caught;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught, 'expected the call to fail');
  assert.equal(caught.name, 'ResponseError', `got ${caught}`);
  assert.equal(caught.statusCode, statusCode);
  assert.equal(caught.body?.error?.name, name);
  assert.equal(caught.body?.response?.statusCode, statusCode);
  assert.ok(caught.body?.request?.method, 'error body has request.method');
  return caught;
}

// getEntities
await check('getEntities: filter by kind', async () => {
  const { items } = await client.getEntities({ filter: { kind: 'component' } }, opts);
  assert.equal(items.length, 13);
  assert.ok(items.every(e => e.kind === 'Component'));
  assert.deepEqual(items.map(ref), sorted(items.map(ref)), 'entity-ref order');
  assert.ok(items.every(e => e.metadata.uid && e.metadata.etag && Array.isArray(e.relations)));
});

await check('getEntities: filters are OR, keys within one are AND', async () => {
  const { items } = await client.getEntities(
    { filter: [{ kind: 'user' }, { kind: 'group', 'spec.type': 'team' }] },
    opts,
  );
  assert.equal(items.filter(e => e.kind === 'User').length, 17);
  assert.ok(items.filter(e => e.kind === 'Group').length > 0);
  assert.ok(items.filter(e => e.kind === 'Group').every(e => e.spec.type === 'team'));
});

await check('getEntities: value lists and CATALOG_FILTER_EXISTS', async () => {
  const { items } = await client.getEntities(
    { filter: { kind: ['System', 'DOMAIN'], 'metadata.description': CATALOG_FILTER_EXISTS } },
    opts,
  );
  assert.ok(items.length > 0 && items.length <= 6);
  assert.ok(items.every(e => ['System', 'Domain'].includes(e.kind) && e.metadata.description));
  const withEmail = await client.getEntities(
    { filter: { kind: 'group', 'spec.profile.email': CATALOG_FILTER_EXISTS } },
    opts,
  );
  assert.ok(withEmail.items.length > 0);
  assert.ok(withEmail.items.every(e => e.spec.profile.email));
});

await check('getEntities: fields', async () => {
  const { items } = await client.getEntities(
    { filter: { kind: 'system' }, fields: ['kind', 'metadata.name'] },
    opts,
  );
  assert.equal(items.length, 3);
  for (const e of items) {
    assert.deepEqual(Object.keys(e).sort(), ['kind', 'metadata']);
    assert.deepEqual(Object.keys(e.metadata), ['name']);
  }
});

await check('getEntities: order', async () => {
  const { items } = await client.getEntities(
    { filter: { kind: 'user' }, order: { field: 'metadata.name', order: 'desc' } },
    opts,
  );
  const names = items.map(e => e.metadata.name);
  assert.deepEqual(names, [...names].sort().reverse());
});

await check('getEntities: offset and limit', async () => {
  const all = await client.getEntities({ filter: { kind: 'user' } }, opts);
  const page = await client.getEntities({ filter: { kind: 'user' }, offset: 3, limit: 4 }, opts);
  assert.deepEqual(page.items.map(ref), all.items.slice(3, 7).map(ref));
});

await check('getEntities: relation filter', async () => {
  const { items } = await client.getEntities(
    { filter: { 'relations.ownedBy': 'group:default/team-a' } },
    opts,
  );
  assert.ok(items.length > 0);
  for (const e of items) {
    assert.ok(e.relations.some(r => r.type === 'ownedBy' && r.targetRef === 'group:default/team-a'));
  }
});

// queryEntities
await check('queryEntities: filter, limit, totalItems and cursor paging', async () => {
  const first = await client.queryEntities(
    { filter: { kind: 'component' }, limit: 5, orderFields: { field: 'metadata.name', order: 'asc' } },
    opts,
  );
  assert.equal(first.totalItems, 13);
  assert.equal(first.items.length, 5);
  assert.ok(first.pageInfo.nextCursor);
  assert.equal(first.pageInfo.prevCursor, undefined);
  const all = [...first.items];
  let page = first;
  let pages = 1;
  while (page.pageInfo.nextCursor) {
    page = await client.queryEntities({ cursor: page.pageInfo.nextCursor, limit: 5 }, opts);
    assert.equal(page.totalItems, 13);
    assert.ok(page.pageInfo.prevCursor, 'later pages have a prevCursor');
    all.push(...page.items);
    pages++;
    assert.ok(pages < 10);
  }
  assert.equal(pages, 3);
  const names = all.map(e => e.metadata.name);
  assert.equal(new Set(names).size, 13);
  assert.deepEqual(names, [...names].sort());
  const back = await client.queryEntities({ cursor: page.pageInfo.prevCursor, limit: 5 }, opts);
  assert.deepEqual(back.items.map(ref), all.slice(5, 10).map(ref));
});

await check('queryEntities: every entity through the cursors', async () => {
  const seen = new Set();
  let res = await client.queryEntities({ limit: 10 }, opts);
  const total = res.totalItems;
  for (;;) {
    for (const e of res.items) {
      assert.ok(!seen.has(ref(e)), `${ref(e)} twice`);
      seen.add(ref(e));
    }
    if (!res.pageInfo.nextCursor) break;
    res = await client.queryEntities({ cursor: res.pageInfo.nextCursor, limit: 10 }, opts);
  }
  assert.equal(total, 67);
  assert.equal(seen.size, 67);
});

await check('queryEntities: fullTextFilter and orderFields', async () => {
  const res = await client.queryEntities(
    {
      fullTextFilter: { term: 'WAYBACK', fields: ['metadata.name'] },
      orderFields: [{ field: 'metadata.name', order: 'desc' }],
    },
    opts,
  );
  assert.equal(res.totalItems, 6);
  assert.ok(res.items.every(e => e.metadata.name.includes('wayback')));
  const names = res.items.map(e => e.metadata.name);
  assert.deepEqual(names, [...names].sort().reverse());
  const onSortField = await client.queryEntities(
    { filter: { kind: 'group' }, fullTextFilter: { term: 'team' }, orderFields: { field: 'metadata.name', order: 'asc' } },
    opts,
  );
  assert.ok(onSortField.totalItems > 0);
  assert.ok(onSortField.items.every(e => e.metadata.name.includes('team')));
});

await check('queryEntities: fields', async () => {
  const res = await client.queryEntities(
    { filter: { kind: 'domain' }, fields: ['metadata.name', 'spec.owner'] },
    opts,
  );
  assert.equal(res.items.length, 3);
  for (const e of res.items) {
    assert.deepEqual(Object.keys(e).sort(), ['metadata', 'spec']);
    assert.ok(e.spec.owner);
  }
});

await check('streamEntities: pages through everything', async () => {
  let n = 0;
  for await (const page of client.streamEntities({ pageSize: 20 }, opts)) {
    n += page.length;
  }
  assert.equal(n, 67);
});

await check('queryEntities: a malformed cursor is an InputError', async () => {
  await expectResponseError(
    () => client.queryEntities({ cursor: 'bm90IGEgY3Vyc29y' }, opts),
    400,
    'InputError',
  );
});

// Predicate queries (POST /entities/by-query, POST /entity-facets, by-refs with a query)
await check('queryEntities: a predicate, paged through its cursors', async () => {
  const query = { kind: 'Component', 'spec.type': { $in: ['service', 'WEBSITE'] } };
  const first = await client.queryEntities(
    { query, limit: 5, orderFields: { field: 'metadata.name', order: 'asc' }, fields: ['kind', 'metadata.name', 'spec.type'] },
    opts,
  );
  assert.equal(first.totalItems, 12);
  assert.equal(first.items.length, 5);
  assert.ok(first.pageInfo.nextCursor);
  // The cursor holds the predicate, so the client continues with POST.
  assert.ok('query' in JSON.parse(Buffer.from(first.pageInfo.nextCursor, 'base64').toString('utf8')));
  const all = [...first.items];
  let page = first;
  let pages = 1;
  while (page.pageInfo.nextCursor) {
    page = await client.queryEntities({ cursor: page.pageInfo.nextCursor, limit: 5, fields: ['kind', 'metadata.name', 'spec.type'] }, opts);
    assert.equal(page.totalItems, 12);
    assert.ok(page.pageInfo.prevCursor);
    all.push(...page.items);
    assert.ok(++pages < 10);
  }
  assert.equal(pages, 3);
  const names = all.map(e => e.metadata.name);
  assert.equal(new Set(names).size, 12);
  assert.deepEqual(names, [...names].sort());
  assert.ok(all.every(e => e.kind === 'Component' && ['service', 'website'].includes(e.spec.type)));
  const back = await client.queryEntities({ cursor: page.pageInfo.prevCursor, limit: 5 }, opts);
  assert.deepEqual(back.items.map(e => e.metadata.name), names.slice(5, 10));
});

await check('queryEntities: filter and query together, $not, $exists', async () => {
  const res = await client.queryEntities(
    { filter: { kind: 'user' }, query: { $not: { 'metadata.namespace': 'development' } } },
    opts,
  );
  assert.equal(res.totalItems, 16);
  assert.ok(res.items.every(e => e.kind === 'User' && e.metadata.namespace === 'default'));
  const groups = await client.queryEntities(
    { query: { $all: [{ kind: 'group' }, { 'spec.profile.email': { $exists: false } }] } },
    opts,
  );
  const { items: allGroups } = await client.getEntities({ filter: { kind: 'group' } }, opts);
  assert.deepEqual(
    groups.items.map(ref).sort(),
    allGroups.filter(g => !g.spec?.profile?.email).map(ref).sort(),
  );
});

await check('queryEntities: tags, relations and $hasPrefix', async () => {
  const java = await client.queryEntities({ query: { 'metadata.tags': { $contains: 'java' } } }, opts);
  const javaByFilter = await client.getEntities({ filter: { 'metadata.tags': 'java' } }, opts);
  assert.ok(java.totalItems > 0);
  assert.deepEqual(java.items.map(ref).sort(), javaByFilter.items.map(ref).sort());
  const owned = await client.queryEntities(
    { query: { relations: { $contains: { type: 'ownedBy', targetRef: 'group:default/team-a' } } } },
    opts,
  );
  const ownedByFilter = await client.getEntities({ filter: { 'relations.ownedBy': 'group:default/team-a' } }, opts);
  assert.ok(owned.totalItems > 0);
  assert.deepEqual(owned.items.map(ref).sort(), ownedByFilter.items.map(ref).sort());
  const wayback = await client.queryEntities({ query: { 'metadata.name': { $hasPrefix: 'WAYBACK-' } } }, opts);
  assert.ok(wayback.totalItems > 0);
  assert.ok(wayback.items.every(e => e.metadata.name.startsWith('wayback-')));
});

await check('queryEntities: a malformed predicate is an InputError', async () => {
  const err = await expectResponseError(
    () => client.queryEntities({ query: { kind: { $in: 'component' } } }, opts),
    400,
    'InputError',
  );
  assert.match(err.body.error.message, /\$in/);
  await expectResponseError(() => client.queryEntities({ query: { $or: [] } }, opts), 400, 'InputError');
});

await check('streamEntities: with a predicate', async () => {
  let n = 0;
  for await (const page of client.streamEntities({ query: { kind: 'user' }, pageSize: 5 }, opts)) {
    assert.ok(page.every(e => e.kind === 'User'));
    n += page.length;
  }
  assert.equal(n, 17);
});

await check('getEntityFacets: with a predicate', async () => {
  const { facets } = await client.getEntityFacets(
    { facets: ['spec.type'], query: { kind: 'component' } },
    opts,
  );
  const byFilter = await client.getEntityFacets({ facets: ['spec.type'], filter: { kind: 'component' } }, opts);
  assert.deepEqual(facets, byFilter.facets);
  const none = await client.getEntityFacets({ facets: ['kind'], query: { $any: [] } }, opts);
  assert.deepEqual(none.facets, { kind: [] });
});

await check('getEntitiesByRefs: with a predicate', async () => {
  const { items } = await client.getEntitiesByRefs(
    {
      entityRefs: ['api:default/petstore', 'component:default/petstore', 'user:default/guest'],
      query: { kind: { $in: ['api', 'user'] } },
      fields: ['kind', 'metadata.name'],
    },
    opts,
  );
  assert.deepEqual(items, [{ kind: 'API', metadata: { name: 'petstore' } }, undefined, { kind: 'User', metadata: { name: 'guest' } }]);
});

// Single entities
await check('getEntityByRef', async () => {
  const e = await client.getEntityByRef('component:default/artist-lookup', opts);
  assert.ok(e);
  assert.equal(e.metadata.name, 'artist-lookup');
  assert.ok(e.relations.some(r => r.type === 'ownedBy' && r.targetRef === 'group:default/team-a'));
  const same = await client.getEntityByRef({ kind: 'Component', namespace: 'DEFAULT', name: 'Artist-Lookup' }, opts);
  assert.equal(same?.metadata.uid, e.metadata.uid);
  assert.equal(await client.getEntityByRef('component:default/does-not-exist', opts), undefined);
  assert.equal(await client.getEntityByRef('spaceship:default/artist-lookup', opts), undefined);
});

await check('getEntitiesByRefs: in order, undefined for missing', async () => {
  const { items } = await client.getEntitiesByRefs(
    {
      entityRefs: ['api:default/petstore', 'component:default/nope', 'user:default/guest'],
      fields: ['kind', 'metadata.name'],
    },
    opts,
  );
  assert.equal(items.length, 3);
  assert.deepEqual(items[0], { kind: 'API', metadata: { name: 'petstore' } });
  assert.equal(items[1], undefined);
  assert.equal(items[2].metadata.name, 'guest');
  const filtered = await client.getEntitiesByRefs(
    { entityRefs: ['api:default/petstore', 'component:default/petstore'], filter: { kind: 'api' } },
    opts,
  );
  assert.equal(filtered.items[0]?.kind, 'API');
  assert.equal(filtered.items[1], undefined);
});

await check('getEntityFacets', async () => {
  const { facets } = await client.getEntityFacets({ facets: ['kind', 'spec.type'] }, opts);
  const kinds = Object.fromEntries(facets.kind.map(f => [f.value.toLowerCase(), f.count]));
  assert.equal(kinds.component, 13);
  assert.equal(kinds.user, 17);
  assert.ok(facets['spec.type'].length > 0);
  const comp = await client.getEntityFacets({ facets: ['spec.type'], filter: { kind: 'component' } }, opts);
  const total = comp.facets['spec.type'].reduce((n, f) => n + f.count, 0);
  assert.equal(total, 13);
});

await check('getEntityAncestors: the chain of locations', async () => {
  const res = await client.getEntityAncestors({ entityRef: 'component:default/artist-lookup' }, opts);
  assert.equal(res.rootEntityRef, 'component:default/artist-lookup');
  const parents = Object.fromEntries(res.items.map(i => [ref(i.entity), i.parentEntityRefs]));
  assert.deepEqual(parents['component:default/artist-lookup'], ['location:default/example-components']);
  assert.deepEqual(parents['location:default/example-components'], ['location:default/example-all']);
  assert.deepEqual(parents['location:default/example-all'], []);
});

await check('validateEntity', async () => {
  const entity = {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'validated' },
    spec: { type: 'service', lifecycle: 'production', owner: 'team-a' },
  };
  assert.deepEqual(await client.validateEntity(entity, 'url:https://example.com/catalog-info.yaml', opts), { valid: true });
  const bad = await client.validateEntity(
    { ...entity, metadata: { name: 'not valid!' } },
    'url:https://example.com/catalog-info.yaml',
    opts,
  );
  assert.equal(bad.valid, false);
  assert.ok(bad.errors.length > 0);
  assert.ok(bad.errors.some(e => e.message.includes('metadata.name')), JSON.stringify(bad.errors));
});

// Locations, refresh and removal
if (locationFile) {
  let id;
  const dir = path.dirname(locationFile);
  await check('analyzeLocation: a directory with catalog-info.yaml', async () => {
    const res = await client.analyzeLocation({ location: { type: 'file', target: dir } }, opts);
    assert.deepEqual(res.generateEntities, []);
    const e = res.existingEntityFiles.find(f => f.entity.metadata.name === 'clienttest-svc');
    assert.ok(e, JSON.stringify(res));
    assert.deepEqual(e.location, { type: 'file', target: locationFile });
    assert.equal(e.isRegistered, false);
  });
  await check('analyzeLocation: a directory without one suggests a Component', async () => {
    const empty = path.join(dir, 'empty-repo');
    fs.mkdirSync(empty, { recursive: true });
    const res = await client.analyzeLocation({ location: { type: 'file', target: empty } }, opts);
    assert.deepEqual(res.existingEntityFiles, []);
    assert.equal(res.generateEntities.length, 1);
    assert.equal(res.generateEntities[0].entity.kind, 'Component');
    assert.equal(res.generateEntities[0].entity.metadata.name, 'empty-repo');
    await expectResponseError(
      () => client.analyzeLocation({ location: { type: 'file', target: path.join(dir, 'missing') } }, opts),
      404,
      'NotFoundError',
    );
  });
  await check('addLocation: dry run', async () => {
    const res = await client.addLocation({ type: 'file', target: locationFile, dryRun: true }, opts);
    assert.equal(res.location.target, locationFile);
    assert.equal(res.exists, false);
    assert.ok(res.entities.some(e => e.metadata.name === 'clienttest-svc'));
    assert.equal(await client.getEntityByRef('component:default/clienttest-svc', opts), undefined);
  });
  await check('addLocation, getLocationById, getLocations', async () => {
    const res = await client.addLocation({ type: 'file', target: locationFile }, opts);
    id = res.location.id;
    assert.ok(id);
    assert.deepEqual(await client.getLocationById(id, opts), res.location);
    const { items } = await client.getLocations({}, opts);
    assert.ok(items.some(l => l.id === id && l.target === locationFile));
    assert.ok(await client.getEntityByRef('component:default/clienttest-svc', opts));
    assert.equal(await client.getLocationById('no-such-location', opts), undefined);
  });
  await check('getLocationByEntity', async () => {
    const loc = await client.getLocationByEntity('component:default/clienttest-svc', opts);
    assert.equal(loc?.id, id);
    assert.match(loc.entityRef, /^location:default\/generated-[0-9a-f]{40}$/);
  });
  await check('analyzeLocation: a registered file', async () => {
    const res = await client.analyzeLocation({ location: { type: 'file', target: locationFile } }, opts);
    assert.ok(res.existingEntityFiles.length > 0);
    assert.ok(res.existingEntityFiles.every(f => f.isRegistered));
  });
  await check('addLocation: onConflict refresh and reject', async () => {
    const res = await client.addLocation({ type: 'file', target: locationFile, onConflict: 'refresh' }, opts);
    assert.equal(res.location.id, id);
    await expectResponseError(
      () => client.addLocation({ type: 'file', target: locationFile, onConflict: 'reject' }, opts),
      409,
      'ConflictError',
    );
  });
  await check('queryLocations and streamLocations', async () => {
    const res = await client.queryLocations({ query: { type: 'FILE', target: { $hasPrefix: dir } }, limit: 10 }, opts);
    assert.equal(res.totalItems, 1);
    assert.equal(res.items[0].id, id);
    assert.equal(res.items[0].target, locationFile);
    const none = await client.queryLocations({ query: { $not: { id } } }, opts);
    assert.ok(none.items.every(l => l.id !== id));
    const ids = [];
    for await (const page of client.streamLocations({ limit: 1 }, opts)) {
      ids.push(...page.map(l => l.id));
    }
    assert.ok(ids.includes(id));
    assert.equal(new Set(ids).size, ids.length);
    await expectResponseError(() => client.queryLocations({ query: { kind: 'x' } }, opts), 400, 'InputError');
  });
  await check('updateLocation', async () => {
    const other = path.join(dir, 'clienttest-other.yaml');
    fs.writeFileSync(
      other,
      'apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: clienttest-other\nspec:\n  type: service\n  lifecycle: experimental\n  owner: team-a\n',
    );
    const updated = await client.updateLocation(id, { type: 'file', target: other }, opts);
    assert.equal(updated.id, id);
    assert.equal(updated.target, other);
    assert.ok(await client.getEntityByRef('component:default/clienttest-other', opts));
    assert.equal(await client.getEntityByRef('component:default/clienttest-svc', opts), undefined);
    const back = await client.updateLocation(id, { type: 'file', target: locationFile }, opts);
    assert.equal(back.target, locationFile);
    assert.ok(await client.getEntityByRef('component:default/clienttest-svc', opts));
    await expectResponseError(
      () => client.updateLocation('no-such-location', { type: 'file', target: other }, opts),
      404,
      'NotFoundError',
    );
  });
  await check('refreshEntity', async () => {
    await client.refreshEntity('component:default/clienttest-svc', opts);
  });
  await check('removeLocationById', async () => {
    await client.removeLocationById(id, opts);
    assert.equal(await client.getLocationById(id, opts), undefined);
  });
}

await check('removeEntityByUid', async () => {
  const e = await client.getEntityByRef('user:development/guest', opts);
  assert.ok(e);
  await client.removeEntityByUid(e.metadata.uid, opts);
  assert.equal(await client.getEntityByRef('user:development/guest', opts), undefined);
  assert.ok(await client.getEntityByRef('user:default/guest', opts), 'the other guest stays');
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
