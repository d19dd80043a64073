// Seam's own fake of its API (@seamapi/fake-seam-connect, npm) on a loopback port, seeded for iam's tests.
//
// Usage: node fake_seam.mjs <package dir> <port>; prints one JSON line (the seed) once it serves.
//
// The fake serves Seam's ACS users (create, get, list, update, suspend, unsuspend, delete, access
// group membership) from its own database. It does not serve the routes that read access groups
// (/acs/access_groups/list, get, list_users) nor credentials (/acs/credentials/*), which the badge
// driver needs to see what a person holds. Those few routes are answered here, in front of the
// fake, from the fake's own database (access groups) and a credentials table kept here, in the
// shapes of Seam's published API (the `seam` Python SDK's routes; a test holds them to it).
// Every other request goes to the fake untouched.
import http from 'node:http'

const [, , packageDir, portArg] = process.argv

// The fake listens on every interface when given a bare port: keep it on loopback.
const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1')
  return listen.apply(this, args)
}

const { createFake } = await import(`${packageDir}/dist/index.js`)
const fake = await createFake()
const seed = await fake.seed()
const db = () => fake.database.getState()

const workspace = seed.seed_workspace_1
const site = db().addAcsSystem({ external_type: 'salto_site', name: 'HQ (Salto KS)', workspace_id: workspace })
const groups = {}
for (const name of ['Lobby', 'Lab', 'Finance', 'Server Room']) {
  groups[name] = db().addAcsAccessGroup({
    acs_system_id: site.acs_system_id,
    external_type: 'salto_access_group',
    name,
    workspace_id: workspace
  }).acs_access_group_id
}
const inner = await fake.startServer()
const innerUrl = `http://127.0.0.1:${inner.port}`

const credentials = [] // acs_credential objects, in Seam's shape
let counter = 0

class Refusal extends Error {
  constructor (status, type, message) {
    super(message)
    this.status = status
    this.type = type
  }
}

const notFound = (type, what) => new Refusal(404, type, `${what} not found`)
const visible = (row, ws) => row.workspace_id === ws
const withoutUnderscores = (row) => Object.fromEntries(Object.entries(row).filter(([k]) => !k.startsWith('_')))

function system (ws, id) {
  const found = db().acs_systems.find((s) => s.acs_system_id === id && visible(s, ws))
  if (!found) throw notFound('acs_system_not_found', 'Access control system')
  return found
}

function user (ws, id) {
  const found = db().acs_users.find((u) => u.acs_user_id === id && visible(u, ws))
  if (!found) throw notFound('acs_user_not_found', 'Access control user')
  return found
}

function group (ws, id) {
  const found = db().acs_access_groups.find((g) => g.acs_access_group_id === id && visible(g, ws))
  if (!found) throw notFound('acs_access_group_not_found', 'Access control group')
  return found
}

function credential (ws, id) {
  const found = credentials.find((c) => c.acs_credential_id === id && visible(c, ws))
  if (!found) throw notFound('acs_credential_not_found', 'Credential')
  return found
}

const routes = {
  '/acs/access_groups/list': (ws, p) => {
    if (p.acs_user_id) user(ws, p.acs_user_id)
    else if (p.acs_system_id) system(ws, p.acs_system_id)
    else throw new Refusal(400, 'invalid_input', 'acs_system_id or acs_user_id is required')
    const rows = db().acs_access_groups.filter((g) => visible(g, ws) &&
      (!p.acs_system_id || g.acs_system_id === p.acs_system_id) &&
      (!p.acs_user_id || g._acs_user_ids.includes(p.acs_user_id)))
    return { acs_access_groups: rows.map(withoutUnderscores) }
  },
  '/acs/access_groups/get': (ws, p) => ({ acs_access_group: withoutUnderscores(group(ws, p.acs_access_group_id)) }),
  '/acs/access_groups/list_users': (ws, p) => {
    const ids = group(ws, p.acs_access_group_id)._acs_user_ids
    return { acs_users: db().acs_users.filter((u) => ids.includes(u.acs_user_id)) }
  },
  '/acs/credentials/list': (ws, p) => {
    if (p.acs_user_id) user(ws, p.acs_user_id)
    else if (p.acs_system_id) system(ws, p.acs_system_id)
    else throw new Refusal(400, 'invalid_input', 'acs_system_id or acs_user_id is required')
    const rows = credentials.filter((c) => visible(c, ws) &&
      (!p.acs_system_id || c.acs_system_id === p.acs_system_id) &&
      (!p.acs_user_id || c.acs_user_id === p.acs_user_id))
    return { acs_credentials: rows }
  },
  '/acs/credentials/get': (ws, p) => ({ acs_credential: credential(ws, p.acs_credential_id) }),
  '/acs/credentials/create': (ws, p) => {
    const owner = user(ws, p.acs_user_id)
    if (!['code', 'card', 'mobile_key'].includes(p.access_method)) {
      throw new Refusal(400, 'invalid_input', 'access_method must be code, card or mobile_key')
    }
    counter += 1
    const created = {
      acs_credential_id: `acs_credential${counter}`,
      acs_user_id: owner.acs_user_id,
      acs_system_id: owner.acs_system_id,
      workspace_id: ws,
      access_method: p.access_method,
      display_name: p.card_number ? `Card ${p.card_number}` : `Credential ${counter}`,
      card_number: p.card_number ?? null,
      code: p.code ?? null,
      created_at: new Date().toISOString(),
      starts_at: p.starts_at ?? null,
      ends_at: p.ends_at ?? null,
      is_managed: true,
      is_multi_phone_sync_credential: false,
      errors: [],
      warnings: []
    }
    credentials.push(created)
    return { acs_credential: created }
  },
  '/acs/credentials/delete': (ws, p) => {
    const gone = credential(ws, p.acs_credential_id)
    credentials.splice(credentials.indexOf(gone), 1)
    return {}
  }
}

function workspaceOf (req) {
  const token = (req.headers.authorization ?? '').replace(/^Bearer /, '')
  const key = db().api_keys.find((k) => k.token === token)
  if (!key) throw new Refusal(401, 'unauthorized', 'Unauthorized')
  return key.workspace_id
}

async function body (req) {
  const chunks = []
  for await (const chunk of req) chunks.push(chunk)
  return Buffer.concat(chunks)
}

function answer (res, status, data) {
  const text = JSON.stringify(data)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

const front = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1')
  const raw = await body(req)
  const route = routes[url.pathname]
  if (!route) { // the fake's own route
    const forwarded = await fetch(innerUrl + req.url, {
      method: req.method,
      headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length')),
      body: ['GET', 'HEAD'].includes(req.method) ? undefined : raw
    })
    const text = Buffer.from(await forwarded.arrayBuffer())
    res.writeHead(forwarded.status, { 'content-type': forwarded.headers.get('content-type') ?? 'application/json' })
    res.end(text)
    return
  }
  try {
    const params = { ...Object.fromEntries(url.searchParams), ...(raw.length ? JSON.parse(raw) : {}) }
    answer(res, 200, { ...route(workspaceOf(req), params), ok: true })
  } catch (error) {
    if (!(error instanceof Refusal)) throw error
    answer(res, error.status, { error: { type: error.type, message: error.message } })
  }
})

front.listen(Number(portArg), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({
    url: `http://127.0.0.1:${front.address().port}`,
    api_key: seed.seam_apikey1_token,
    other_workspace_api_key: seed.seam_apikey2_token,
    acs_system_id: site.acs_system_id,
    access_groups: groups
  }) + '\n')
})

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => { front.close(); inner.close(); process.exit(0) })
}
