// Listen addresses are literal IPs: the supervisor binds them itself, and a name such as
// "localhost" can resolve to 127.0.0.1, ::1 or both depending on the machine.
import { isIPv4, isIPv6 } from 'node:net';
import { quote } from './quote.js';
import type { ListenAddress } from './types.js';

export type AddressResult = { ok: true; address: ListenAddress } | { ok: false; message: string };

// The longest IPv6 address with brackets and a port is 47 characters; anything much longer is not one.
const MAX_ADDRESS_LENGTH = 64;
const EXAMPLES = 'such as 127.0.0.1:8000, 0.0.0.0:8000 or [::]:8000';

export function parseListenAddress(input: string): AddressResult {
  const text = input.trim();
  if (text === '') return fail(`an address cannot be empty: write host:port, ${EXAMPLES}`);
  if (text.length > MAX_ADDRESS_LENGTH) return fail(`${quote(text)} is too long for an address: write host:port, ${EXAMPLES}`);

  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return fail(`"${input}" has no closing "]": write [v6-address]:port, such as [::1]:8000`);
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (!rest.startsWith(':') || rest === ':') {
      return fail(`"${input}" has no port: write [${host}]:port, such as [${host}]:8000`);
    }
    portText = rest.slice(1);
    if (!isIPv6(host)) return fail(`"${host}" in "${input}" is not an IPv6 address: brackets are for IPv6, such as [::1]:8000; write IPv4 as 127.0.0.1:8000`);
  } else {
    const colons = text.split(':').length - 1;
    if (colons === 0) {
      if (/^\d+$/.test(text)) {
        return fail(`"${input}" has no host: write 127.0.0.1:${text} (this machine only), 0.0.0.0:${text} (all IPv4) or [::]:${text} (all IPv6)`);
      }
      return fail(hostProblem(text, input, '8000') ?? `"${input}" has no port: write ${text}:port, such as ${text}:8000`);
    }
    if (colons > 1) {
      // "::1:8000" is itself a valid IPv6 address, so only guess where the port starts.
      const split = text.lastIndexOf(':');
      const prefix = text.slice(0, split);
      const suffix = text.slice(split + 1);
      const guess = isIPv6(prefix) && /^\d{1,5}$/.test(suffix) ? `[${prefix}]:${suffix}` : `[${text}]:8000`;
      return fail(`"${input}" looks like an IPv6 address without brackets: write the address in brackets, such as ${guess}`);
    }
    const split = text.indexOf(':');
    host = text.slice(0, split);
    portText = text.slice(split + 1);
    const problem = hostProblem(host, input, /^\d+$/.test(portText) ? portText : '8000');
    if (problem !== undefined) return fail(problem);
    if (portText === '') return fail(`"${input}" has no port: write ${host}:port, such as ${host}:8000`);
  }

  if (!/^\d+$/.test(portText)) return fail(`port "${portText}" in "${input}" is not a number: write a port from 1 to 65535`);
  const port = Number(portText);
  if (port < 1 || port > 65535) return fail(`port ${portText} in "${input}" is out of range: write a port from 1 to 65535`);

  const family = isIPv4(host) ? 4 : 6;
  const canonical = family === 6 ? canonicalIPv6(host) : host;
  const address: ListenAddress = {
    host: canonical,
    port,
    family,
    text: family === 6 ? `[${canonical}]:${port}` : `${canonical}:${port}`,
  };
  return { ok: true, address };
}

// Two spellings of one IPv6 address ("::1", "0:0::1") must compare equal for duplicate detection.
function canonicalIPv6(host: string): string {
  if (host.includes('%')) return host.toLowerCase(); // zone ids ("fe80::1%eth0") are not URL hosts
  try {
    return new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return host.toLowerCase();
  }
}

function hostProblem(host: string, input: string, port: string): string | undefined {
  if (host === '' || host === '*') {
    return `"${input}" has no host: write 0.0.0.0:${port} for all IPv4 addresses, [::]:${port} for all IPv6, or 127.0.0.1:${port} for this machine only`;
  }
  if (host.toLowerCase() === 'localhost') {
    return `"${input}": host names are not resolved, and localhost may mean IPv4 or IPv6: write 127.0.0.1:${port} or [::1]:${port}`;
  }
  if (!isIPv4(host)) {
    return `"${host}" in "${input}" is not an IP address: write a literal address, ${EXAMPLES} (host names are not resolved)`;
  }
  return undefined;
}

function fail(message: string): AddressResult {
  return { ok: false, message };
}
