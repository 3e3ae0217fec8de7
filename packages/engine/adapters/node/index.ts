/** Node adapters: one file per port implementation. */
export { NodeHasher, defaultNodeHasherSettings, type NodeHasherSettings } from './node-hasher.js'
