// The global values a notebook cell may use without declaring them: ES2023 plus Node 20's
// globals (what tsconfig.json's lib and @types/node declare). Generated once from the TypeScript
// checker (getSymbolsInScope on an empty module); CommonJS names (require, module, exports,
// __dirname, __filename) are left out on purpose: compiled modules are ESM, so a cell using them
// gets E_UNDECLARED_NAME with a hint instead of code that fails at run time.
export const KNOWN_GLOBALS: ReadonlySet<string> = new Set([
  'AbortController', 'AbortSignal', 'AggregateError', 'Array', 'ArrayBuffer', 'Atomics', 'BigInt',
  'BigInt64Array', 'BigUint64Array', 'Blob', 'Boolean', 'BroadcastChannel', 'Buffer',
  'ByteLengthQueuingStrategy', 'CompressionStream', 'CountQueuingStrategy', 'CustomEvent',
  'DOMException', 'DataView', 'Date', 'DecompressionStream', 'Error', 'EvalError', 'Event',
  'EventSource', 'EventTarget', 'File', 'FinalizationRegistry', 'Float32Array', 'Float64Array',
  'FormData', 'Function', 'Headers', 'Infinity', 'Int16Array', 'Int32Array', 'Int8Array', 'Intl',
  'JSON', 'Map', 'Math', 'MessageChannel', 'MessageEvent', 'MessagePort', 'NaN', 'Number',
  'Object', 'PerformanceEntry', 'PerformanceMark', 'PerformanceMeasure', 'PerformanceObserver',
  'PerformanceObserverEntryList', 'PerformanceResourceTiming', 'Promise', 'Proxy', 'RangeError',
  'ReadableByteStreamController', 'ReadableStream', 'ReadableStreamBYOBReader',
  'ReadableStreamBYOBRequest', 'ReadableStreamDefaultController', 'ReadableStreamDefaultReader',
  'ReferenceError', 'Reflect', 'RegExp', 'Request', 'Response', 'Set', 'SharedArrayBuffer',
  'String', 'Symbol', 'SyntaxError', 'TextDecoder', 'TextDecoderStream', 'TextEncoder',
  'TextEncoderStream', 'TransformStream', 'TransformStreamDefaultController', 'TypeError',
  'URIError', 'URL', 'URLSearchParams', 'Uint16Array', 'Uint32Array', 'Uint8Array',
  'Uint8ClampedArray', 'WeakMap', 'WeakRef', 'WeakSet', 'WebSocket', 'WritableStream',
  'WritableStreamDefaultController', 'WritableStreamDefaultWriter', 'arguments', 'atob', 'btoa',
  'clearImmediate', 'clearInterval', 'clearTimeout', 'console', 'crypto', 'decodeURI',
  'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'eval', 'fetch', 'gc',
  'global', 'globalThis', 'isFinite', 'isNaN', 'parseFloat', 'parseInt', 'performance', 'process',
  'queueMicrotask', 'setImmediate', 'setInterval', 'setTimeout', 'structuredClone', 'undefined',
  'unescape',
]);
