/**
 * Port-mapping port (issue 12): asks the gateway in front of us (a home router) to forward an
 * external port to our listening port, so peers behind no NAT of their own can dial us. The core
 * decides what to map, when to renew and when to remove (session/port-mapping.ts); an adapter
 * speaks to the gateway (UPnP IGD, NAT-PMP) with the platform's sockets. A platform without a
 * way to reach the gateway (a browser) has no adapter, and the engine simply maps nothing.
 */

export type PortMappingProtocol = 'tcp' | 'udp'

/** How a mapping was made: UPnP IGD (WANIPConnection / WANPPPConnection) or NAT-PMP (RFC 6886). */
export type PortMappingMethod = 'upnp' | 'natpmp'

export interface PortMapRequest {
  protocol: PortMappingProtocol
  internalPort: number
  /** The external port asked for (the internal one when absent); a gateway may grant another. */
  externalPort?: number
  /** Lease asked for, in seconds; the gateway may grant less (or 0: until removed). */
  lifetimeSec: number
  /** Shown in the router's list of mappings (UPnP's NewPortMappingDescription). */
  description: string
  /** Methods to try, in order; the adapter uses the first that answers. */
  methods: readonly PortMappingMethod[]
  signal?: AbortSignal
}

/** A mapping the gateway granted. Pass it back to `unmap`. */
export interface PortMapResult {
  protocol: PortMappingProtocol
  internalPort: number
  externalPort: number
  /** Seconds granted; 0 means no expiry (the engine still refreshes it now and then). */
  lifetimeSec: number
  method: PortMappingMethod
  /** The gateway's address (UPnP: the control URL's host; NAT-PMP: the default gateway). */
  gateway: string
  /** Our address as the gateway sees it (the internal client of the mapping). */
  internalAddress: string
  /** The gateway's external address, when it told us. */
  externalAddress: string | null
}

export interface IPortMapper {
  /** Creates or refreshes a mapping. Rejects with a LodestoneError PORT_MAPPING_FAILED. */
  map: (request: PortMapRequest) => Promise<PortMapResult>
  /** Removes a mapping `map` returned. Rejects with PORT_MAPPING_FAILED (the lease still expires). */
  unmap: (mapping: PortMapResult, options?: { signal?: AbortSignal }) => Promise<void>
  /** Forgets gateways found and closes sockets; mappings are the engine's to remove first. */
  close: () => void | Promise<void>
}
