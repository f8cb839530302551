// TLS test material made at test time with the openssl CLI (never committed): a CA, and a
// server certificate it signed for 127.0.0.1 and localhost.

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

// Makes ca.pem, cert.pem (signed by it, for 127.0.0.1 and localhost) and key.pem in `dir`.
export function makeCertificates(dir, prefix = '') {
  const run = (...args) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const f = (name) => path.join(dir, prefix + name);
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'),
    '-days', '2', '-subj', `/CN=sio test CA ${prefix}`);
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('key.pem'), '-out', f('srv.csr'),
    '-subj', '/CN=localhost');
  fs.writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  run('x509', '-req', '-in', f('srv.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-out', f('cert.pem'), '-days', '2', '-extfile', f('ext.cnf'));
  return { ca: f('ca.pem'), cert: f('cert.pem'), key: f('key.pem') };
}

