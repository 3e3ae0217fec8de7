// Only webtorrent-cli's --airplay flag reaches this; the tests never pass it.
export default {
  createBrowser () {
    throw new Error('airplay-js is a stub in this repository (interop/webtorrent/airplay-js-stub)')
  }
}
