// Loads the native addon through the generated loader (binding.js, never
// edited by hand) and turns its failure into one actionable error: the host
// detected, what was tried, how to fix it. The loader's own error chain is
// kept as `cause`.
'use strict'

const { napi, name, version } = require('./package.json')

function detectLibc() {
  if (process.platform !== 'linux') return null
  try {
    const { glibcVersionRuntime } = process.report.getReport().header
    return glibcVersionRuntime ? `glibc ${glibcVersionRuntime}` : 'musl'
  } catch {
    return 'unknown libc'
  }
}

// The host as napi names it: the platform package suffix, and the Rust target.
function host(libc) {
  const { platform, arch } = process
  const cpu = { x64: 'x86_64', arm64: 'aarch64' }[arch] || arch
  if (platform === 'linux') {
    const abi = libc === 'musl' ? 'musl' : 'gnu'
    return { suffix: `linux-${arch}-${abi}`, target: `${cpu}-unknown-linux-${abi}` }
  }
  if (platform === 'win32') return { suffix: `win32-${arch}-msvc`, target: `${cpu}-pc-windows-msvc` }
  if (platform === 'darwin') return { suffix: `darwin-${arch}`, target: `${cpu}-apple-darwin` }
  return { suffix: `${platform}-${arch}`, target: null }
}

function noBindingError(cause) {
  const libc = detectLibc()
  const { suffix, target } = host(libc)
  const prebuilt = target !== null && napi.targets.includes(target)
  const override = process.env.NAPI_RS_NATIVE_LIBRARY_PATH
  const tried = override
    ? `NAPI_RS_NATIVE_LIBRARY_PATH=${override} (set in the environment)`
    : `./${napi.binaryName}.${suffix}.node (a build from source), then the package ${name}-${suffix}`
  const fixes = []
  if (override) fixes.push('unset NAPI_RS_NATIVE_LIBRARY_PATH or point it at a built .node file')
  if (prebuilt) {
    fixes.push(
      `install the prebuilt package: npm install ${name}-${suffix}@${version} ` +
        '(npm leaves it out with --omit=optional, or when the lockfile was made on another platform)',
    )
  }
  fixes.push(`build from source with a Rust toolchain (cargo on PATH): npm run build in a clone of ${name}`)
  const error = new Error(
    `${name}: could not load the native addon for ${process.platform}/${process.arch}` +
      `${libc ? ` (${libc})` : ''}, Node ${process.version}.\n` +
      `Tried: ${tried}.\n` +
      `Fix: ${fixes.join('; or ')}.\n` +
      (prebuilt ? '' : `No prebuilt package exists for ${suffix}; prebuilt targets: ${napi.targets.join(', ')}.\n`) +
      "The generated loader's errors are in error.cause.",
  )
  error.code = 'ERR_PHOTON_WB_NO_BINDING'
  error.cause = cause
  return error
}

try {
  module.exports = require('./binding.js')
} catch (e) {
  throw noBindingError(e)
}
