throw new Error('node-datachannel is stubbed in this repository (see interop/tracker/node-datachannel-stub)')
