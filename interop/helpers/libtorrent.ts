/**
 * Python prelude for libtorrent interop scripts: the input, a JSON printer, and a session that
 * cannot leave loopback (INTEROP-NOTES.md: DHT, LSD, UPnP, NAT-PMP and the IP notifier off, bound
 * to 127.0.0.1).
 *
 * ```ts
 * const out = await runLibtorrent<{ v1: string }>(`
 * ti = lt.torrent_info(INPUT['path'])
 * emit({'v1': str(ti.info_hashes().v1)})`, { input: { path } })
 * ```
 */
import { runPythonJson, type RunPythonOptions } from './python.js'

export const LIBTORRENT_PRELUDE = `
import json, sys, time
import libtorrent as lt
INPUT = json.load(sys.stdin)

def emit(value):
    sys.stdout.write('\\n' + json.dumps(value) + '\\n')
    sys.stdout.flush()

def loopback_session(extra=None):
    settings = {
        'listen_interfaces': '127.0.0.1:0',
        'outgoing_interfaces': '127.0.0.1',
        'enable_dht': False,
        'dht_bootstrap_nodes': '',
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'enable_ip_notifier': False,
        'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
    }
    settings.update(extra or {})
    return lt.session(settings)

def hex_v1(ih):
    return str(ih.v1) if ih.has_v1() else None

def hex_v2(ih):
    return str(ih.v2) if ih.has_v2() else None
`

/** Runs `body` after {@link LIBTORRENT_PRELUDE}; the body calls `emit(value)` once at the end. */
export async function runLibtorrent<T = unknown> (body: string, options: RunPythonOptions = {}): Promise<T> {
  return runPythonJson<T>(`${LIBTORRENT_PRELUDE}\n${body}`, options)
}

/** libtorrent's version string; rejects (so the test fails) when the binding is missing. */
export async function libtorrentVersion (): Promise<string> {
  return runLibtorrent<string>('emit(lt.__version__)', { timeoutMs: 20_000 })
}
