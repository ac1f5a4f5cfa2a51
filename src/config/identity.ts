import { readFileSync } from 'node:fs';

// Users and groups by name or number, read from /etc/passwd and /etc/group (Node has no
// getpwnam). A name that is not there gets an error naming the file that was searched.
export interface Identity {
  uid: number;
  gid: number;
  name: string;
}

type Resolved<T> = { ok: true; value: T } | { ok: false; message: string };

function entries(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(':'));
  } catch {
    return [];
  }
}

export function resolveUser(value: string | number, passwd = '/etc/passwd'): Resolved<Identity> {
  const rows = entries(passwd);
  const row = rows.find((fields) => (typeof value === 'number' ? Number(fields[2]) === value : fields[0] === value));
  if (row) return { ok: true, value: { name: row[0]!, uid: Number(row[2]), gid: Number(row[3]) } };
  if (typeof value === 'number') return { ok: true, value: { name: String(value), uid: value, gid: value } };
  return { ok: false, message: `no user "${value}" in ${passwd}: create it (useradd --system ${value}) or give a numeric uid` };
}

export function resolveGroup(value: string | number, group = '/etc/group'): Resolved<number> {
  if (typeof value === 'number') return { ok: true, value };
  const row = entries(group).find((fields) => fields[0] === value);
  if (row) return { ok: true, value: Number(row[2]) };
  return { ok: false, message: `no group "${value}" in ${group}: create it (groupadd --system ${value}) or give a numeric gid` };
}
