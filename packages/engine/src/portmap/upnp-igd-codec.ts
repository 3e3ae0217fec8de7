/**
 * UPnP IGD text formats (UPnP Device Architecture 1.1, IGD:1/2): the SSDP M-SEARCH and its
 * answer, the device description's WAN connection services, and the SOAP envelopes of
 * AddPortMapping / DeletePortMapping / GetExternalIPAddress. Pure string work with size limits
 * (a router's answers are input like any other); the Node adapter does the sending.
 *
 * The description and SOAP answers are read by tag name, not by a full XML parser: what we need is
 * a handful of leaf elements, and routers put namespace prefixes on them or not, so tags match
 * with any prefix.
 */
import { LodestoneError } from '../errors.js'
import type { PortMappingProtocol } from '../interfaces/port-mapper.js'

export const SSDP_MULTICAST_ADDRESS = '239.255.255.250'
export const SSDP_PORT = 1900
/** Search targets: the gateway device (IGD:1 is also answered by IGD:2 devices) and its service. */
export const SSDP_SEARCH_TARGETS = ['urn:schemas-upnp-org:device:InternetGatewayDevice:1', 'urn:schemas-upnp-org:service:WANIPConnection:1'] as const
/** Device descriptions and SOAP answers larger than this are refused. */
export const MAX_UPNP_DOCUMENT_BYTES = 64 * 1024

/** The services that can map ports, best first. */
const CONNECTION_SERVICES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1'
] as const

export function buildMSearch (searchTarget: string, waitSec = 2): string {
  return `M-SEARCH * HTTP/1.1\r\nHOST: ${SSDP_MULTICAST_ADDRESS}:${SSDP_PORT}\r\nMAN: "ssdp:discover"\r\nMX: ${waitSec}\r\nST: ${searchTarget}\r\n\r\n`
}

/** The LOCATION of an SSDP answer (`HTTP/1.1 200 OK` with an http LOCATION), else null. */
export function parseSsdpResponse (text: string): { location: string, searchTarget: string | null } | null {
  if (text.length > 8192 || !/^HTTP\/1\.[01] 200/i.test(text)) return null
  let location: string | null = null
  let searchTarget: string | null = null
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'location') location = value
    else if (name === 'st') searchTarget = value
  }
  if (location === null || !/^http:\/\/[^\s]+$/i.test(location)) return null
  return { location, searchTarget }
}

export interface IgdService {
  serviceType: string
  /** Absolute control URL. */
  controlUrl: string
}

/** The WAN connection services of a device description, best first (IP before PPP, newer first). */
export function parseIgdDescription (xml: string, descriptionUrl: string): IgdService[] {
  checkSize(xml, 'device description')
  const base = firstTag(xml, 'URLBase') ?? descriptionUrl
  const found: IgdService[] = []
  for (const block of blocks(xml, 'service')) {
    const serviceType = firstTag(block, 'serviceType')
    const control = firstTag(block, 'controlURL')
    if (serviceType === null || control === null) continue
    if (!(CONNECTION_SERVICES as readonly string[]).includes(serviceType)) continue
    let controlUrl: string
    try { controlUrl = new URL(control, base).href } catch { continue }
    if (!controlUrl.startsWith('http://')) continue
    found.push({ serviceType, controlUrl })
  }
  const rank = (type: string): number => (CONNECTION_SERVICES as readonly string[]).indexOf(type)
  return found.sort((a, b) => rank(a.serviceType) - rank(b.serviceType))
}

/** A SOAP request: the body, and the SOAPAction header's value (quoted, as the spec writes it). */
export function buildSoapRequest (serviceType: string, action: string, args: ReadonlyArray<readonly [string, string | number]>): { body: string, soapAction: string } {
  const params = args.map(([name, value]) => `<${name}>${escapeXml(String(value))}</${name}>`).join('')
  const body = '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${escapeXml(serviceType)}">${params}</u:${action}></s:Body></s:Envelope>`
  return { body, soapAction: `"${serviceType}#${action}"` }
}

/** AddPortMapping's arguments, in the order the service description lists them. */
export function addPortMappingArgs (m: { externalPort: number, protocol: PortMappingProtocol, internalPort: number, internalClient: string, description: string, leaseSec: number }): Array<[string, string | number]> {
  return [
    ['NewRemoteHost', ''], ['NewExternalPort', m.externalPort], ['NewProtocol', m.protocol.toUpperCase()],
    ['NewInternalPort', m.internalPort], ['NewInternalClient', m.internalClient], ['NewEnabled', 1],
    ['NewPortMappingDescription', m.description], ['NewLeaseDuration', m.leaseSec]
  ]
}

export function deletePortMappingArgs (externalPort: number, protocol: PortMappingProtocol): Array<[string, string | number]> {
  return [['NewRemoteHost', ''], ['NewExternalPort', externalPort], ['NewProtocol', protocol.toUpperCase()]]
}

/** A SOAP answer: the output arguments, or the UPnP error of a fault. */
export type SoapResult = { ok: true, values: Map<string, string> } | { ok: false, errorCode: number | null, errorDescription: string }

/** Reads a SOAP answer (status 200 with `<actionResponse>`, or a fault, usually with status 500). */
export function parseSoapResponse (xml: string, action: string): SoapResult {
  checkSize(xml, 'SOAP answer')
  // An action without output arguments may answer with an empty element: <u:AddPortMappingResponse …/>.
  if (new RegExp(`<(?:[\\w.-]+:)?${action}Response(?:\\s[^>]*)?/>`).test(xml)) return { ok: true, values: new Map() }
  const response = blocks(xml, `${action}Response`)[0]
  if (response !== undefined) {
    const values = new Map<string, string>()
    for (const m of response.matchAll(/<(?:[\w.-]+:)?(New\w+)\s*>([^<]*)<\//g)) values.set(m[1]!, unescapeXml(m[2]!.trim()))
    for (const m of response.matchAll(/<(?:[\w.-]+:)?(New\w+)\s*\/>/g)) values.set(m[1]!, '')
    return { ok: true, values }
  }
  const code = firstTag(xml, 'errorCode')
  const description = firstTag(xml, 'errorDescription') ?? firstTag(xml, 'faultstring') ?? 'no SOAP response'
  return { ok: false, errorCode: code !== null && /^\d+$/.test(code) ? Number(code) : null, errorDescription: description }
}

function checkSize (text: string, what: string): void {
  if (text.length > MAX_UPNP_DOCUMENT_BYTES) {
    throw new LodestoneError('PORT_MAPPING_FAILED', { protocol: 'tcp', internalPort: 0, method: 'upnp', reason: `${what} larger than ${MAX_UPNP_DOCUMENT_BYTES} bytes` })
  }
}

/** The inner text of every `<tag>…</tag>` (any namespace prefix, not nested in itself). */
function blocks (xml: string, tag: string): string[] {
  const re = new RegExp(`<(?:[\\w.-]+:)?${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</(?:[\\w.-]+:)?${tag}\\s*>`, 'g')
  return [...xml.matchAll(re)].map((m) => m[1]!)
}

function firstTag (xml: string, tag: string): string | null {
  const inner = blocks(xml, tag)[0]
  return inner === undefined ? null : unescapeXml(inner.trim())
}

function escapeXml (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function unescapeXml (s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&')
}
