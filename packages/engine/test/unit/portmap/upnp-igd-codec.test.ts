import { describe, expect, it } from 'vitest'
import {
  addPortMappingArgs, buildMSearch, buildSoapRequest, MAX_UPNP_DOCUMENT_BYTES, parseIgdDescription, parseSoapResponse, parseSsdpResponse
} from '../../../src/portmap/upnp-igd-codec.js'

// Shaped like miniupnpd 2.3's rootDesc.xml (trimmed): an IGD:2 whose WANConnectionDevice has WANIPConnection:2.
const DESCRIPTION = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>1</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/ctl/L3F</controlURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType><controlURL>/ctl/CmnIfCfg</controlURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:2</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType><controlURL>http://10.0.0.1:5000/ppp</controlURL></service>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl/IPConn</controlURL></service>
</serviceList></device></deviceList></device></deviceList></device></root>`

describe('UPnP IGD codec', () => {
  it('builds an M-SEARCH and reads the LOCATION of an answer (headers in any case)', () => {
    expect(buildMSearch('urn:schemas-upnp-org:device:InternetGatewayDevice:1')).toBe(
      'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n')
    expect(parseSsdpResponse('HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nst: urn:x\r\nLocation: http://10.77.0.1:35201/rootDesc.xml\r\n\r\n'))
      .toEqual({ location: 'http://10.77.0.1:35201/rootDesc.xml', searchTarget: 'urn:x' })
    expect(parseSsdpResponse('NOTIFY * HTTP/1.1\r\nLOCATION: http://a/\r\n\r\n')).toBeNull()
    expect(parseSsdpResponse('HTTP/1.1 200 OK\r\nLOCATION: file:///etc/passwd\r\n\r\n')).toBeNull()
    expect(parseSsdpResponse('HTTP/1.1 200 OK\r\n\r\n')).toBeNull()
  })

  it('finds the WAN connection services in a description, IP before PPP, control URLs made absolute', () => {
    expect(parseIgdDescription(DESCRIPTION, 'http://10.77.0.1:35201/rootDesc.xml')).toEqual([
      { serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:2', controlUrl: 'http://10.77.0.1:35201/ctl/IPConn' },
      { serviceType: 'urn:schemas-upnp-org:service:WANPPPConnection:1', controlUrl: 'http://10.0.0.1:5000/ppp' }
    ])
    expect(parseIgdDescription(DESCRIPTION.replace('<specVersion>', '<URLBase>http://10.0.0.9:80/</URLBase><specVersion>'), 'http://10.77.0.1:35201/d.xml')[0]?.controlUrl).toBe('http://10.0.0.9/ctl/IPConn')
    expect(parseIgdDescription('<root><device></device></root>', 'http://a/')).toEqual([])
    expect(() => parseIgdDescription('x'.repeat(MAX_UPNP_DOCUMENT_BYTES + 1), 'http://a/')).toThrow(/larger than/)
  })

  it('builds SOAP requests with escaped arguments', () => {
    const { body, soapAction } = buildSoapRequest('urn:schemas-upnp-org:service:WANIPConnection:1', 'AddPortMapping', addPortMappingArgs({
      externalPort: 6881, protocol: 'udp', internalPort: 6881, internalClient: '10.77.0.2', description: 'Lodestone <UDP> & co', leaseSec: 3600
    }))
    expect(soapAction).toBe('"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping"')
    expect(body).toContain('<u:AddPortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewRemoteHost></NewRemoteHost><NewExternalPort>6881</NewExternalPort>' +
      '<NewProtocol>UDP</NewProtocol><NewInternalPort>6881</NewInternalPort><NewInternalClient>10.77.0.2</NewInternalClient><NewEnabled>1</NewEnabled>' +
      '<NewPortMappingDescription>Lodestone &lt;UDP&gt; &amp; co</NewPortMappingDescription><NewLeaseDuration>3600</NewLeaseDuration></u:AddPortMapping>')
  })

  it('reads answers: output arguments, an empty answer element, a UPnP fault', () => {
    const envelope = (inner: string): string => `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>${inner}</s:Body></s:Envelope>`
    const ip = parseSoapResponse(envelope('<u:GetExternalIPAddressResponse xmlns:u="urn:x"><NewExternalIPAddress>11.77.0.2</NewExternalIPAddress></u:GetExternalIPAddressResponse>'), 'GetExternalIPAddress')
    expect(ip.ok && ip.values.get('NewExternalIPAddress')).toBe('11.77.0.2')
    expect(parseSoapResponse(envelope('<u:AddPortMappingResponse xmlns:u="urn:x"/>'), 'AddPortMapping')).toEqual({ ok: true, values: new Map() })
    expect(parseSoapResponse(envelope('<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0">' +
      '<errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault>'), 'AddPortMapping'))
      .toEqual({ ok: false, errorCode: 718, errorDescription: 'ConflictInMappingEntry' })
    expect(parseSoapResponse('<html>nope</html>', 'AddPortMapping')).toEqual({ ok: false, errorCode: null, errorDescription: 'no SOAP response' })
  })
})
