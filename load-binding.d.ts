// Types of load-binding.js: the generated binding's, unchanged.
export * from './binding.js'
