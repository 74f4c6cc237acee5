export { Frame, EMPTY } from './frame.js';
export { FrameParser, type ParserHandler, type ParserOptions } from './parser.js';
export {
  encodeFrame,
  encodeLines,
  encodeError,
  SharedMessage,
  HEARTBEAT,
  FRAME_END,
  type EncodedLines,
} from './encoder.js';
export { escapeHeader, decodeHeaderBytes } from './escape.js';
export {
  SUPPORTED_VERSIONS,
  CLIENT_COMMANDS,
  BODY_COMMANDS,
  negotiateVersion,
  isUnescapedCommand,
  type StompVersion,
} from './version.js';
