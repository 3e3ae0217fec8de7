// Lodestone's web UI: plain DOM and one ES module, no framework and no build step — the page is a
// table, a detail pane and two canvases, which the DOM does directly in less code than a
// framework's setup would take, and it loads with nothing to download but these three files.
// It talks only to the daemon's own API (/api/v1/…) and its WebSocket event stream.

const $ = (sel, root = document) => root.querySelector(sel)
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
    else node.setAttribute(k, v)
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c))
  return node
}

const PRIORITIES = [[0, 'skip'], [1, 'low'], [4, 'normal'], [6, 'high'], [7, 'top']]
const GRAPH_SECONDS = 120

const state = {
  token: '',
  torrents: new Map(), // infoHash -> summary
  selected: null, // infoHash
  tab: 'files',
  history: [], // { down, up } per second
  ws: null
}

function fromHash () {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash)
  return m === null ? null : decodeURIComponent(m[1])
}

state.token = fromHash() ?? localStorage.getItem('lodestone-token') ?? ''
if (fromHash() !== null) {
  localStorage.setItem('lodestone-token', state.token)
  history.replaceState(null, '', location.pathname)
}

async function api (method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${state.token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {})
  })
  const value = await res.json().catch(() => ({}))
  if (res.status === 401) { askToken(); throw new Error('the API token is needed') }
  if (!res.ok) throw new Error(value?.error?.message ?? `HTTP ${res.status}`)
  return value
}

function askToken () {
  $('#token-form').hidden = false
  $('main').hidden = true
}

$('#token-form').addEventListener('submit', (e) => {
  e.preventDefault()
  state.token = $('#token-input').value.trim()
  localStorage.setItem('lodestone-token', state.token)
  $('#token-form').hidden = true
  $('main').hidden = false
  void start()
})

// ------------------------------------------------------------------ formatting

function bytes (n) {
  if (!Number.isFinite(n) || n <= 0) return '0 B'
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  const i = Math.min(units.length - 1, Math.floor(Math.log10(n) / 3))
  return `${(n / 10 ** (3 * i)).toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}

function eta (t) {
  const s = t.stats
  const left = s.wantedBytes * (1 - s.progress)
  if (s.progress >= 1) return 'done'
  if (s.downloadRateBytesPerSec <= 0) return '∞'
  const sec = Math.ceil(left / s.downloadRateBytesPerSec)
  return sec < 60 ? `${sec} s` : sec < 3600 ? `${Math.round(sec / 60)} min` : `${(sec / 3600).toFixed(1)} h`
}

function bar (progress) {
  const b = el('div', { class: progress >= 1 ? 'bar done' : 'bar', title: `${(progress * 100).toFixed(1)} %` }, el('span'))
  b.firstChild.style.width = `${Math.min(100, progress * 100)}%`
  return b
}

// ------------------------------------------------------------------ torrent table

function renderTable () {
  const body = $('#torrents tbody')
  body.replaceChildren(...[...state.torrents.values()].sort((a, b) => a.id - b.id).map((t) => {
    const row = el('tr', { 'data-hash': t.infoHash, class: t.infoHash === state.selected ? 'selected' : '', onclick: () => { select(t.infoHash) } },
      el('td', { class: 'name' }, t.name),
      el('td', {}, bar(t.stats.progress)),
      el('td', { class: 'wide state' }, t.error !== null ? `error: ${t.error}` : t.state),
      el('td', { class: 'down' }, `${bytes(t.stats.downloadRateBytesPerSec)}/s`),
      el('td', { class: 'up' }, `${bytes(t.stats.uploadRateBytesPerSec)}/s`),
      el('td', { class: 'wide peers' }, t.stats.peers),
      el('td', { class: 'wide' }, eta(t)))
    return row
  }))
  let down = 0
  let up = 0
  for (const t of state.torrents.values()) { down += t.stats.downloadRateBytesPerSec; up += t.stats.uploadRateBytesPerSec }
  $('#rate-down').textContent = `↓ ${bytes(down)}/s`
  $('#rate-up').textContent = `↑ ${bytes(up)}/s`
}

async function refreshList () {
  const { torrents } = await api('GET', '/api/v1/torrents')
  state.torrents = new Map(torrents.map((t) => [t.infoHash, t]))
  if (state.selected !== null && !state.torrents.has(state.selected)) state.selected = null
  renderTable()
  if (state.selected === null) $('#detail').hidden = true
}

// ------------------------------------------------------------------ speed graph

function drawGraph () {
  const canvas = $('#speed-graph')
  const w = canvas.width = canvas.clientWidth * devicePixelRatio
  const h = canvas.height = canvas.clientHeight * devicePixelRatio
  const ctx = canvas.getContext('2d')
  ctx.clearRect(0, 0, w, h)
  const points = state.history
  const max = Math.max(1, ...points.map((p) => Math.max(p.down, p.up)))
  const line = (key, color) => {
    ctx.beginPath()
    points.forEach((p, i) => {
      const x = w - (points.length - 1 - i) * (w / (GRAPH_SECONDS - 1))
      const y = h - (p[key] / max) * (h - 4) - 2
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y)
    })
    ctx.strokeStyle = color
    ctx.lineWidth = 2 * devicePixelRatio
    ctx.stroke()
  }
  line('down', '#2f6fde')
  line('up', '#2e9d57')
  canvas.dataset.points = String(points.length)
  canvas.dataset.maxDown = String(Math.max(0, ...points.map((p) => p.down)))
}

// ------------------------------------------------------------------ detail pane

async function select (hash) {
  state.selected = hash
  renderTable()
  $('#detail').hidden = false
  await renderDetail()
}

async function renderDetail () {
  const hash = state.selected
  if (hash === null) return
  const d = await api('GET', `/api/v1/torrents/${hash}`)
  if (hash !== state.selected) return
  $('#detail-name').textContent = d.name
  $('#tab-files tbody').replaceChildren(...d.files.filter((f) => !f.padding).map((f) => el('tr', {},
    el('td', { class: 'name' }, f.path),
    el('td', {}, bar(f.progress)),
    el('td', {}, prioritySelect(hash, f)),
    el('td', {}, f.priority > 0 ? el('a', { href: `/files/${hash}/${f.index}?token=${encodeURIComponent(state.token)}`, target: '_blank' }, 'open') : ''))))
  $('#tab-peers tbody').replaceChildren(...d.peers.map((p) => el('tr', {},
    el('td', {}, p.address), el('td', {}, p.clientName ?? '?'),
    el('td', {}, [!p.peerChoking && p.amInterested ? 'D' : '', !p.amChoking && p.peerInterested ? 'U' : '', p.direction === 'incoming' ? 'I' : '', p.encryption === 'rc4' ? 'E' : ''].join('')),
    el('td', {}, `${bytes(p.downloadRateBytesPerSec)}/s`), el('td', {}, `${bytes(p.uploadRateBytesPerSec)}/s`), el('td', {}, p.source))))
  $('#tab-trackers tbody').replaceChildren(...d.trackers.map((t) => el('tr', {},
    el('td', { class: 'name' }, t.url), el('td', {}, t.tier), el('td', {}, t.seeders ?? '–'), el('td', {}, t.leechers ?? '–'), el('td', {}, t.lastError ?? (t.lastAnnounceAtMs !== null ? 'ok' : '–')))))
  drawPieces(d.pieces, d.pieceCount)
  if (state.tab === 'log') await renderLog()
}

function prioritySelect (hash, file) {
  const select = el('select', { 'aria-label': `priority of ${file.path}`, 'data-file': String(file.index) },
    ...PRIORITIES.map(([value, label]) => {
      const o = el('option', { value: String(value) }, label)
      if (value === file.priority || (value === 4 && ![0, 1, 6, 7].includes(file.priority))) o.selected = true
      return o
    }))
  select.addEventListener('change', () => {
    api('PUT', `/api/v1/torrents/${hash}/files/${file.index}`, { priority: Number(select.value) }).then(renderDetail, report)
  })
  return select
}

function drawPieces (base64, count) {
  const canvas = $('#pieces-map')
  const w = canvas.width = canvas.clientWidth * devicePixelRatio
  const h = canvas.height = canvas.clientHeight * devicePixelRatio
  const ctx = canvas.getContext('2d')
  ctx.fillStyle = '#e3e6ec'
  ctx.fillRect(0, 0, w, h)
  if (count === 0) return
  const bits = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
  ctx.fillStyle = '#2f6fde'
  let have = 0
  for (let i = 0; i < count; i++) {
    if ((bits[i >> 3] >> (7 - (i & 7))) & 1) {
      have++
      ctx.fillRect(Math.floor(i * w / count), 0, Math.max(1, Math.ceil(w / count)), h)
    }
  }
  canvas.dataset.have = String(have)
}

async function renderLog () {
  const { entries } = await api('GET', '/api/v1/log')
  $('#log').textContent = entries.slice(-200).map((e) => `${new Date(e.timeMs).toISOString()} ${e.level.toUpperCase()} ${e.component} ${e.message}`).join('\n')
}

for (const button of document.querySelectorAll('.tabs button')) {
  button.addEventListener('click', () => {
    state.tab = button.dataset.tab
    for (const b of document.querySelectorAll('.tabs button')) b.classList.toggle('active', b === button)
    for (const t of document.querySelectorAll('.tab')) t.hidden = t.id !== `tab-${state.tab}`
    void renderDetail()
  })
}

for (const button of document.querySelectorAll('.actions [data-action]')) {
  button.addEventListener('click', () => {
    if (state.selected !== null) api('POST', `/api/v1/torrents/${state.selected}/${button.dataset.action}`).then(refreshList, report)
  })
}

$('#move-button').addEventListener('click', () => {
  const target = prompt('Move the data to (an absolute directory inside a storage root):')
  if (target && state.selected !== null) api('POST', `/api/v1/torrents/${state.selected}/move`, { target }).then(renderDetail, report)
})

$('#remove-button').addEventListener('click', () => {
  if (state.selected === null) return
  const withData = $('#remove-data').checked
  if (!confirm(withData ? 'Remove the torrent and delete its data?' : 'Remove the torrent (keep its data)?')) return
  api('DELETE', `/api/v1/torrents/${state.selected}?deleteData=${withData}`).then(refreshList, report)
})

// ------------------------------------------------------------------ adding

function report (err) {
  alert(err instanceof Error ? err.message : String(err))
}

async function addFile (file) {
  const buf = new Uint8Array(await file.arrayBuffer())
  let binary = ''
  for (let i = 0; i < buf.length; i += 0x8000) binary += String.fromCharCode(...buf.subarray(i, i + 0x8000))
  await api('POST', '/api/v1/torrents', { metainfo: btoa(binary) })
  await refreshList()
}

$('#add-form').addEventListener('submit', (e) => {
  e.preventDefault()
  const text = $('#add-input').value.trim()
  if (text === '') return
  const body = text.startsWith('magnet:') ? { magnet: text } : { url: text }
  api('POST', '/api/v1/torrents', body).then(() => { $('#add-input').value = ''; return refreshList() }, report)
})
$('#add-file').addEventListener('change', () => {
  const file = $('#add-file').files[0]
  if (file !== undefined) addFile(file).catch(report)
})
addEventListener('dragover', (e) => { e.preventDefault(); $('#drop-hint').hidden = false })
addEventListener('dragleave', () => { $('#drop-hint').hidden = true })
addEventListener('drop', (e) => {
  e.preventDefault()
  $('#drop-hint').hidden = true
  for (const file of e.dataTransfer.files) addFile(file).catch(report)
})

// ------------------------------------------------------------------ live updates

function connect () {
  const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/v1/events?token=${encodeURIComponent(state.token)}`)
  state.ws = ws
  ws.onmessage = (m) => {
    const event = JSON.parse(m.data)
    if (event.type === 'stats') {
      let down = 0
      let up = 0
      for (const { infoHash, stats } of event.torrents) {
        const t = state.torrents.get(infoHash)
        if (t !== undefined) { t.stats = stats; t.state = stats.state }
        down += stats.downloadRateBytesPerSec
        up += stats.uploadRateBytesPerSec
      }
      state.history.push({ down, up })
      if (state.history.length > GRAPH_SECONDS) state.history.shift()
      renderTable()
      drawGraph()
      if (state.selected !== null) void renderDetail()
    } else if (event.type === 'torrent-added' || event.type === 'torrent-removed') {
      void refreshList()
    } else if (event.type === 'alert' && event.alert.type === 'state-changed') {
      void refreshList()
    }
  }
  ws.onclose = () => { setTimeout(connect, 2000) }
}

async function start () {
  if (state.token === '') { askToken(); return }
  await refreshList()
  connect()
  window.lodestoneReady = true
}

void start().catch(report)
