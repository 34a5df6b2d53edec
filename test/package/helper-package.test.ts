// The helper's Debian package in a booted systemd (test/lib/systemd-container.ts): what a user's
// machine does with it. The deb comes from scripts/package-linux.ts (built here into a temporary
// directory, or the one named by PHANTOMMESH_HELPER_DEB) and is bound read-only at /mnt/pkg.
//
// One container runs the whole sequence, each step a subtest; a step whose prerequisite failed is
// skipped, saying which. Inside the container a wireguard-go peer runs in a network namespace of its
// own, joined by a veth pair (198.51.100.1 here, .2 the peer; inside the tunnel 192.0.2.0/24 and
// fd00:2::/64).
//
// "Starts on a fresh boot" is checked with a real reboot of the same container: `systemctl reboot`
// inside, nspawn exits 133 and boots the same root (with the package installed) again, a new
// systemd as PID 1 that nobody asks to start the helper. That costs about a second, unlike installing
// into a second root; `systemctl daemon-reexec` would not be a boot.
//
// Needs root, systemd-nspawn and the cached root (built on first use with debootstrap, ~40 s);
// without them the test skips, saying why, except under CI=true, where it fails.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  boot,
  log,
  missingPrerequisites,
  run,
  timed,
  type Container,
  type ExecOptions,
  type RunResult,
} from '../lib/systemd-container.ts';
import { skipOutsideCi } from '../lib/netns.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const UNIT = 'phantommesh-helper';
const RELAY_UNIT = 'phantommesh-relay';
const PACKAGE = 'phantommesh-helper';
const MEMBER = 'alice';
const OUTSIDER = 'bob';
const TUNNEL = 'office';
const PEER = { ns: 'peer', outer: '198.51.100.2', inner4: '192.0.2.1', inner6: 'fd00:2::1', port: 51820 };
const OURS = { outer: '198.51.100.1', inner4: '192.0.2.2', inner6: 'fd00:2::2' };
/** CAP_CHOWN (0) and CAP_NET_ADMIN (12). */
const HELPER_CAPS = (1n << 0n) | (1n << 12n);
/** Capability names by bit, for messages. */
const CAP_NAMES = (
  'CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE ' +
  'NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT ' +
  'SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE ' +
  'AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ ' +
  'PERFMON BPF CHECKPOINT_RESTORE'
).split(' ');

const skip = skipOutsideCi(missingPrerequisites()) || false;

test('phantommesh-helper deb in a booted systemd', { skip, timeout: 15 * 60_000 }, async (t) => {
  const scratch: string[] = [];
  const removeScratch = (): void => scratch.forEach((path) => rmSync(path, { recursive: true, force: true }));
  process.on('exit', removeScratch);
  let container: Container | undefined;
  let failed = false;
  try {
    // Under CI=true the test runs without its prerequisites: fail with the reason, not later.
    const missing = missingPrerequisites();
    if (missing !== undefined) throw new Error(`cannot boot a container here: ${missing}`);
    const deb = await timed('[package] deb', () => obtainDeb(scratch));
    const debName = basename(deb);
    const c = await boot('pm-package', { bind: [{ host: dirname(deb), container: '/mnt/pkg' }] });
    container = c;
    const pkg = `/mnt/pkg/${debName}`;
    const version = (await c.exec('dpkg-deb', ['--field', pkg, 'Version'])).stdout.trim();
    log(`[package] ${debName}: version ${version}`);

    const sh = (script: string, opts?: ExecOptions): Promise<RunResult> => c.exec('sh', ['-c', script], opts);
    const cli = (user: string | undefined, ...args: string[]): Promise<RunResult> =>
      c.exec('phantommesh', args, { user, allowFail: true, timeoutMs: 60_000 });
    const mainPid = async (): Promise<number> =>
      Number((await c.exec('systemctl', ['show', '-p', 'MainPID', '--value', UNIT])).stdout.trim());
    const unitState = async (verb: 'is-active' | 'is-enabled'): Promise<string> =>
      (await c.exec('systemctl', [verb, UNIT], { allowFail: true })).stdout.trim();

    /** Polls `phantommesh status --json` until the tunnel is connected (the helper brings it back). */
    const waitConnected = async (ms: number): Promise<void> => {
      const deadline = Date.now() + ms;
      let last: string;
      for (;;) {
        const result = await cli(MEMBER, 'status', '--json');
        last = `exit ${result.code}: ${result.stdout}${result.stderr}`;
        if (result.code === 0) {
          const status = JSON.parse(result.stdout) as { tunnels: Array<{ name: string; state: string }> };
          if (status.tunnels.some((tunnel) => tunnel.name === TUNNEL && tunnel.state === 'connected')) return;
        }
        if (Date.now() > deadline)
          assert.fail(`${TUNNEL} is not connected after ${ms / 1000} s; status: ${last}`);
        await sleep(250);
      }
    };
    const pingThrough = async (): Promise<void> => {
      for (const address of [PEER.inner4, PEER.inner6]) {
        const result = await c.exec('ping', ['-c', '2', '-i', '0.2', '-W', '2', address], {
          allowFail: true,
        });
        assert.equal(result.code, 0, `ping ${address} through the tunnel:\n${result.stdout}${result.stderr}`);
      }
    };

    // The peer, and the network as it is before the helper ever ran.
    const peerKey = (await c.exec('wg', ['genkey'])).stdout.trim();
    const peerPublic = (await c.exec('wg', ['pubkey'], { input: `${peerKey}\n` })).stdout.trim();
    const ourKey = (await c.exec('wg', ['genkey'])).stdout.trim();
    const ourPublic = (await c.exec('wg', ['pubkey'], { input: `${ourKey}\n` })).stdout.trim();
    await timed('[package] wireguard-go peer', () =>
      sh(
        [
          // Link-local addresses without duplicate address detection: at once, not a second later
          // (during the test), so that they are in the picture of the network before the helper.
          'sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0',
          `ip netns add ${PEER.ns}`,
          `ip link add veth-h type veth peer name veth-p netns ${PEER.ns}`,
          `ip addr add ${OURS.outer}/24 dev veth-h`,
          'ip link set veth-h up',
          `ip -n ${PEER.ns} link set lo up`,
          `ip -n ${PEER.ns} addr add ${PEER.outer}/24 dev veth-p`,
          `ip -n ${PEER.ns} link set veth-p up`,
          `ip netns exec ${PEER.ns} wireguard-go wgpeer`,
          `printf '%s\\n' '${peerKey}' > /root/peer.key`,
          `ip netns exec ${PEER.ns} wg set wgpeer private-key /root/peer.key listen-port ${PEER.port} ` +
            `peer ${ourPublic} allowed-ips ${OURS.inner4}/32,${OURS.inner6}/128`,
          `ip -n ${PEER.ns} addr add ${PEER.inner4}/24 dev wgpeer`,
          `ip -n ${PEER.ns} addr add ${PEER.inner6}/64 dev wgpeer nodad`,
          `ip -n ${PEER.ns} link set wgpeer up`,
        ].join(' && '),
      ),
    );
    await waitForLinkLocal(c, 'veth-h');
    const before = await networkState(c);

    const passed = new Set<string>();
    const step = async (
      id: string,
      name: string,
      needs: readonly string[],
      fn: (st: TestContext) => Promise<void>,
    ): Promise<void> => {
      await t.test(name, async (st) => {
        const missing = needs.filter((need) => !passed.has(need));
        if (missing.length > 0) {
          failed = true;
          st.skip(`not run: it needs ${missing.join(', ')}, which failed`);
          return;
        }
        try {
          await timed(`[step] ${name}`, () => fn(st));
          passed.add(id);
        } catch (error) {
          failed = true;
          throw error;
        }
      });
    };

    await step('install', 'dpkg -i installs the package', [], async () => {
      const result = await c.exec('dpkg', ['-i', pkg], { allowFail: true, timeoutMs: 180_000 });
      assert.equal(result.code, 0, `dpkg -i:\n${result.stdout}${result.stderr}`);
      const status = await c.exec('dpkg-query', ['-W', '-f', '${Status} ${Version}', PACKAGE]);
      assert.equal(status.stdout, `install ok installed ${version}`);
    });

    await step('active', 'the service is enabled and active', ['install'], async () => {
      assert.equal(await unitState('is-enabled'), 'enabled');
      assert.equal(await unitState('is-active'), 'active');
      assert.ok((await mainPid()) > 0, 'the service has a main process');
    });

    await step(
      'caps',
      'the helper has exactly CAP_NET_ADMIN + CAP_CHOWN and NoNewPrivs',
      ['active'],
      async () => {
        const pid = await mainPid();
        const status = (await c.exec('cat', [`/proc/${pid}/status`])).stdout;
        const field = (name: string): string => {
          const value = new RegExp(`^${name}:\\s*(\\S+)$`, 'm').exec(status)?.[1];
          assert.ok(value !== undefined, `/proc/${pid}/status has no ${name}`);
          return value;
        };
        for (const name of ['CapEff', 'CapBnd', 'CapPrm']) {
          const caps = BigInt(`0x${field(name)}`);
          assert.equal(caps, HELPER_CAPS, `${name} is ${capNames(caps)}, not NET_ADMIN CHOWN`);
        }
        assert.equal(BigInt(`0x${field('CapAmb')}`), 0n, 'no ambient capabilities');
        assert.equal(field('NoNewPrivs'), '1');
        const unit = (await c.exec('systemctl', ['show', '-p', 'Type,DevicePolicy,DeviceAllow', UNIT]))
          .stdout;
        assert.match(unit, /^Type=notify$/m);
        assert.match(unit, /^DevicePolicy=closed$/m);
        assert.match(unit, /^DeviceAllow=\/dev\/net\/tun rw$/m);
      },
    );

    await step(
      'relay',
      'phantommesh-relay is installed but disabled, and runs unprivileged once configured and started',
      ['install'],
      async () => {
        const relayState = async (verb: 'is-active' | 'is-enabled'): Promise<string> =>
          (await c.exec('systemctl', [verb, RELAY_UNIT], { allowFail: true })).stdout.trim();
        assert.equal(await relayState('is-enabled'), 'disabled');
        assert.equal(await relayState('is-active'), 'inactive');
        const help = await c.exec('phantommesh-relay', ['--help'], { allowFail: true });
        assert.equal(help.code, 0, `phantommesh-relay --help: ${help.stderr}`);
        assert.match(help.stdout, /--listen URL/);
        await sh(
          `sed -i 's|^RELAY_ARGS=.*|RELAY_ARGS="--listen tcp://127.0.0.1:443 --listen ws://127.0.0.1:8080/wg ` +
            `--to ${PEER.outer}:${PEER.port}"|' /etc/default/phantommesh-relay`,
        );
        await c.exec('systemctl', ['start', RELAY_UNIT]);
        let listening = '';
        for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(100)) {
          listening = (await c.exec('ss', ['-Hltn', 'sport = :443 or sport = :8080'])).stdout;
          if (listening.split('\n').filter(Boolean).length === 2) break;
        }
        const journal = async (): Promise<string> =>
          (await c.exec('journalctl', ['-u', RELAY_UNIT, '--no-pager', '-n', '20'], { allowFail: true }))
            .stdout;
        assert.equal(
          listening.split('\n').filter(Boolean).length,
          2,
          `listening:\n${listening}\n${await journal()}`,
        );
        assert.equal(await relayState('is-active'), 'active');
        const pid = (
          await c.exec('systemctl', ['show', '-p', 'MainPID', '--value', RELAY_UNIT])
        ).stdout.trim();
        const status = (await c.exec('cat', [`/proc/${pid}/status`])).stdout;
        const field = (name: string): string =>
          new RegExp(`^${name}:\\s*(\\S+)$`, 'm').exec(status)?.[1] ?? '';
        const uid = (await c.exec('id', ['-u', 'phantommesh-relay'])).stdout.trim();
        assert.equal(/^Uid:\s*(\d+)/m.exec(status)?.[1], uid, 'runs as its own user, phantommesh-relay');
        assert.equal(
          BigInt(`0x${field('CapEff')}`),
          1n << 10n,
          `CapEff: ${capNames(BigInt(`0x${field('CapEff')}`))}`,
        );
        assert.equal(BigInt(`0x${field('CapBnd')}`), 1n << 10n, 'bounding set: NET_BIND_SERVICE only');
        assert.equal(field('NoNewPrivs'), '1');
        assert.match(
          await journal(),
          /listening on tcp:\/\/127\.0\.0\.1:443, relaying to 198\.51\.100\.2:51820/,
        );
        await c.exec('systemctl', ['stop', RELAY_UNIT]);
        assert.equal(await relayState('is-active'), 'inactive');
        assert.match(await journal(), /stopped/, 'SIGTERM: a clean stop');
      },
    );

    await step(
      'modes',
      'the control socket is root:phantommesh 0660, /var/lib/phantommesh 0700',
      ['active'],
      async () => {
        const stat = async (path: string): Promise<string> =>
          (await c.exec('stat', ['-c', '%U:%G %a %F', path])).stdout.trim();
        assert.equal(await stat('/run/phantommesh/helper.sock'), 'root:phantommesh 660 socket');
        assert.match(await stat('/var/lib/phantommesh'), /^root:\S+ 700 directory$/);
      },
    );

    await step(
      'users',
      'a phantommesh member may use the helper, anyone else gets exit 4',
      ['active'],
      async () => {
        await sh(
          `useradd --create-home ${MEMBER} && usermod -aG phantommesh ${MEMBER} && useradd --create-home ${OUTSIDER}`,
        );
        const member = await cli(MEMBER, 'list');
        assert.equal(member.code, 0, `phantommesh list as ${MEMBER}:\n${member.stdout}${member.stderr}`);
        const outsider = await cli(OUTSIDER, 'list');
        assert.equal(
          outsider.code,
          4,
          `phantommesh list as ${OUTSIDER}:\n${outsider.stdout}${outsider.stderr}`,
        );
      },
    );

    await step(
      'keys',
      '/usr/bin/phantommesh genkey and pubkey work for any user',
      ['install', 'users'],
      async () => {
        const key = await cli(OUTSIDER, 'genkey');
        assert.equal(key.code, 0, `genkey as ${OUTSIDER}: ${key.stderr}`);
        assert.match(key.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
        const ours = await c.exec('phantommesh', ['pubkey'], { user: OUTSIDER, input: key.stdout });
        const wg = await c.exec('wg', ['pubkey'], { input: key.stdout });
        assert.equal(ours.stdout, wg.stdout, 'phantommesh pubkey agrees with wg pubkey');
      },
    );

    await step(
      'polkit',
      'the polkit policy validates and pkaction knows both actions',
      ['install'],
      async () => {
        const policy = '/usr/share/polkit-1/actions/net.phantommesh.helper.policy';
        const valid = await c.exec(
          'xmllint',
          ['--noout', '--dtdvalid', '/usr/share/polkit-1/policyconfig-1.dtd', policy],
          {
            allowFail: true,
          },
        );
        assert.equal(valid.code, 0, `xmllint: ${valid.stderr}`);
        for (const action of ['net.phantommesh.helper.start', 'net.phantommesh.helper.install']) {
          const listed = await c.exec('pkaction', ['--action-id', action], { allowFail: true });
          assert.equal(listed.code, 0, `pkaction --action-id ${action}: ${listed.stdout}${listed.stderr}`);
          assert.equal(listed.stdout.trim(), action);
        }
      },
    );

    await step(
      'tunnel',
      'an imported wg-quick tunnel connects to wireguard-go and carries pings',
      ['users'],
      async () => {
        const config = [
          '[Interface]',
          `PrivateKey = ${ourKey}`,
          `Address = ${OURS.inner4}/24, ${OURS.inner6}/64`,
          '',
          '[Peer]',
          `PublicKey = ${peerPublic}`,
          `Endpoint = ${PEER.outer}:${PEER.port}`,
          // A full tunnel: the helper adds policy rules, a routing table and an nft table, which the
          // stop and remove steps then see go.
          'AllowedIPs = 0.0.0.0/0, ::/0',
          'PersistentKeepalive = 25',
          '',
        ].join('\n');
        const file = `/home/${MEMBER}/${TUNNEL}.conf`;
        await c.exec('sh', ['-c', `umask 077 && cat > ${file}`], { user: MEMBER, input: config });
        const imported = await cli(MEMBER, 'import', file);
        assert.equal(imported.code, 0, `import: ${imported.stdout}${imported.stderr}`);
        const up = await cli(MEMBER, 'up', TUNNEL);
        assert.equal(up.code, 0, `up: ${up.stdout}${up.stderr}`);
        await waitConnected(10_000);
        await pingThrough();
        const files = (await sh('stat -c "%U:%G %a %n" /var/lib/phantommesh/tunnels/*')).stdout
          .trim()
          .split('\n');
        assert.ok(
          files.length > 0 && files.every((line) => / 600 /.test(line)),
          `tunnel files:\n${files.join('\n')}`,
        );
      },
    );

    await step(
      'reinstall',
      'reinstalling the same deb restarts the helper and the tunnel comes back',
      ['tunnel'],
      async () => {
        const old = await mainPid();
        const result = await c.exec('dpkg', ['-i', pkg], { allowFail: true, timeoutMs: 180_000 });
        assert.equal(result.code, 0, `dpkg -i again:\n${result.stdout}${result.stderr}`);
        const pid = await mainPid();
        assert.ok(pid > 0 && pid !== old, `the helper was restarted (PID ${old} before, ${pid} after)`);
        await waitConnected(30_000);
        await pingThrough();
      },
    );

    await step(
      'upgrade',
      'upgrading to a newer version restarts the helper and the tunnel comes back',
      ['tunnel'],
      async () => {
        const newer = `${version}+test1`;
        const newDeb = `/root/${PACKAGE}_${newer}_amd64.deb`;
        await timed('[package] repack as a newer version', () =>
          sh(
            `rm -rf /root/upgrade && dpkg-deb -R ${pkg} /root/upgrade && ` +
              `sed -i 's/^Version: .*/Version: ${newer}/' /root/upgrade/DEBIAN/control && ` +
              `dpkg-deb --root-owner-group -Znone -b /root/upgrade ${newDeb} >/dev/null && rm -rf /root/upgrade`,
            { timeoutMs: 180_000 },
          ),
        );
        const old = await mainPid();
        const result = await c.exec('dpkg', ['-i', newDeb], { allowFail: true, timeoutMs: 180_000 });
        assert.equal(result.code, 0, `dpkg -i ${basename(newDeb)}:\n${result.stdout}${result.stderr}`);
        const status = await c.exec('dpkg-query', ['-W', '-f', '${Status} ${Version}', PACKAGE]);
        assert.equal(status.stdout, `install ok installed ${newer}`);
        const pid = await mainPid();
        assert.ok(pid > 0 && pid !== old, `the helper was restarted (PID ${old} before, ${pid} after)`);
        await waitConnected(30_000);
        await pingThrough();
      },
    );

    await step(
      'stop',
      'systemctl stop keeps only a wanted kill switch; with it off, it leaves nothing behind',
      ['tunnel'],
      async () => {
        if (!passed.has('upgrade') && !passed.has('reinstall')) await cli(MEMBER, 'up', TUNNEL);
        const killSwitch = await cli(MEMBER, 'kill-switch', 'on');
        assert.equal(killSwitch.code, 0, `kill-switch on: ${killSwitch.stdout}${killSwitch.stderr}`);
        // Else this step would prove nothing: the full tunnel and the kill switch add all of these.
        const added = new Map(difference(await networkState(c), before));
        log(`[package] what the helper added:\n${JSON.stringify(Object.fromEntries(added), null, 2)}`);
        for (const kind of ['interfaces', 'ipv4 rules', 'ipv6 rules', 'nft tables']) {
          assert.ok(added.get(kind)!.length > 0, `with the tunnel up, the helper added no ${kind}`);
        }
        await c.exec('systemctl', ['stop', UNIT]);
        assert.equal(await unitState('is-active'), 'inactive');
        const unavailable = await cli(MEMBER, 'list');
        assert.equal(
          unavailable.code,
          3,
          `list with the helper stopped: ${unavailable.stdout}${unavailable.stderr}`,
        );
        // The user still wants the tunnel with the kill switch: its table holds while the helper is
        // gone (a restart or an upgrade never opens a gap), and nothing else stays.
        const kept = difference(await networkState(c), before).filter(([, extra]) => extra.length > 0);
        assert.deepEqual(kept, [['nft tables', ['table inet phantommesh']]], 'only the kill switch stays');

        // With the kill switch off, stop gives everything back.
        await c.exec('systemctl', ['start', UNIT]);
        const off = await cli(MEMBER, 'kill-switch', 'off');
        assert.equal(off.code, 0, `kill-switch off: ${off.stdout}${off.stderr}`);
        await c.exec('systemctl', ['stop', UNIT]);
        const after = await networkState(c);
        const left = difference(after, before).filter(([, extra]) => extra.length > 0);
        const gone = difference(before, after).filter(([, missing]) => missing.length > 0);
        assert.deepEqual(left, [], 'left behind after stop (what the helper had added)');
        assert.deepEqual(gone, [], 'missing after stop (what was there before the helper)');
      },
    );

    await step('reboot', 'after a reboot the enabled helper is running', ['active'], async () => {
      assert.equal(await unitState('is-enabled'), 'enabled');
      await c.reboot();
      assert.equal(
        await unitState('is-active'),
        'active',
        `after the reboot; failed units: ${c.failedUnits}`,
      );
      assert.equal(
        (await c.exec('stat', ['-c', '%a', '/run/wireguard'], { allowFail: true })).stdout.trim(),
        '700',
      );
      const member = await cli(MEMBER, 'list');
      assert.equal(
        member.code,
        0,
        `phantommesh list as ${MEMBER} after the reboot: ${member.stdout}${member.stderr}`,
      );
      log(`[package] after the reboot:\n${member.stdout.trim()}`);
    });

    await step(
      'lockdown',
      'lockdown blocks from early boot: its unit loads the table with the helper not running',
      ['reboot'],
      async () => {
        const on = await cli(undefined, 'lockdown', 'on');
        assert.equal(on.code, 0, `lockdown on: ${on.stdout}${on.stderr}`);
        assert.equal(
          (await c.exec('stat', ['-c', '%a', '/var/lib/phantommesh/lockdown.nft'])).stdout.trim(),
          '600',
        );
        // Only the boot unit can bring the table back now: the helper will not start, and a reboot
        // gives the container a fresh network namespace without any rules.
        await c.exec('systemctl', ['disable', '--now', UNIT]);
        await c.reboot();
        assert.equal(await unitState('is-active'), 'inactive', 'the helper did not start');
        const unit = await c.exec('systemctl', [
          'show',
          '-p',
          'Result',
          '-p',
          'ExecMainStatus',
          '--value',
          'phantommesh-lockdown.service',
        ]);
        assert.deepEqual(unit.stdout.trim().split('\n'), ['success', '0'], 'the lockdown unit ran');
        assert.match((await c.exec('nft', ['list', 'tables'])).stdout, /table inet phantommesh/);

        await c.exec('systemctl', ['enable', '--now', UNIT]);
        const off = await cli(undefined, 'lockdown', 'off');
        assert.equal(off.code, 0, `lockdown off: ${off.stdout}${off.stderr}`);
        const file = await c.exec('test', ['-e', '/var/lib/phantommesh/lockdown.nft'], { allowFail: true });
        assert.notEqual(file.code, 0, 'lockdown off removes the boot file');
      },
    );

    await step(
      'remove',
      'dpkg -r stops and disables the service, removes the files, keeps the state',
      ['install'],
      async () => {
        if ((await unitState('is-active')) !== 'active') await c.exec('systemctl', ['start', UNIT]);
        const pid = await mainPid();
        const result = await c.exec('dpkg', ['-r', PACKAGE], { allowFail: true, timeoutMs: 120_000 });
        assert.equal(result.code, 0, `dpkg -r:\n${result.stdout}${result.stderr}`);
        assert.notEqual(await unitState('is-active'), 'active');
        assert.notEqual(await unitState('is-enabled'), 'enabled');
        const alive = await c.exec('kill', ['-0', String(pid)], { allowFail: true });
        assert.notEqual(alive.code, 0, `the helper (PID ${pid}) still runs`);
        const present = await sh(
          'for p in /usr/bin/phantommesh /usr/bin/phantommesh-helper /usr/lib/phantommesh-helper ' +
            '/usr/bin/phantommesh-relay /usr/lib/systemd/system/phantommesh-relay.service ' +
            '/usr/lib/systemd/system/phantommesh-helper.service /lib/systemd/system/phantommesh-helper.service ' +
            '/usr/share/polkit-1/actions/net.phantommesh.helper.policy ' +
            '/etc/systemd/system/multi-user.target.wants/phantommesh-helper.service ' +
            '/usr/lib/systemd/system/phantommesh-lockdown.service ' +
            '/etc/systemd/system/sysinit.target.wants/phantommesh-lockdown.service; ' +
            'do if [ -e "$p" ] || [ -L "$p" ]; then echo "$p"; fi; done',
        );
        assert.equal(present.stdout, '', 'left after dpkg -r');
        const status = await c.exec('dpkg-query', ['-W', '-f', '${Status}', PACKAGE], { allowFail: true });
        assert.equal(status.stdout, 'deinstall ok config-files');
        // The helper came back after the reboot with the kill switch on and the tunnel connecting.
        const after = await networkState(c);
        for (const kind of ['ipv4 rules', 'ipv6 rules', 'nft tables']) {
          assert.deepEqual(after[kind], before[kind], `${kind} after dpkg -r`);
        }
        if (passed.has('tunnel')) {
          const kept = await sh(`ls /var/lib/phantommesh/tunnels/`, { allowFail: true });
          assert.match(kept.stdout, new RegExp(TUNNEL), 'the stored tunnel survives dpkg -r');
        } else {
          assert.ok((await c.exec('test', ['-d', '/var/lib/phantommesh'], { allowFail: true })).code === 0);
        }
      },
    );

    await step('purge', 'dpkg -P removes /var/lib/phantommesh', ['remove'], async () => {
      const result = await c.exec('dpkg', ['-P', PACKAGE], { allowFail: true, timeoutMs: 120_000 });
      assert.equal(result.code, 0, `dpkg -P:\n${result.stdout}${result.stderr}`);
      const exists = await c.exec('test', ['-e', '/var/lib/phantommesh'], { allowFail: true });
      assert.notEqual(exists.code, 0, '/var/lib/phantommesh is still there');
      const conffile = await c.exec('test', ['-e', '/etc/default/phantommesh-relay'], { allowFail: true });
      assert.notEqual(
        conffile.code,
        0,
        'purge removes the configuration file /etc/default/phantommesh-relay',
      );
      const status = await c.exec('dpkg-query', ['-W', '-f', '${Status}', PACKAGE], { allowFail: true });
      assert.notEqual(status.stdout, 'deinstall ok config-files');
    });

    await step(
      'loud-failure',
      'a helper that cannot start fails dpkg -i with the journal; dpkg --configure -a after the fix',
      ['purge'],
      async () => {
        // systemd cannot make StateDirectory= where a plain file stands: the service fails to start.
        await c.exec('touch', ['/var/lib/phantommesh']);
        const failing = await c.exec('dpkg', ['-i', pkg], { allowFail: true, timeoutMs: 180_000 });
        const said = `${failing.stdout}${failing.stderr}`;
        assert.notEqual(failing.code, 0, `dpkg -i should fail:\n${said}`);
        assert.match(said, /the helper service did not start\. Its last log lines:/);
        assert.match(said, /phantommesh-helper\.service/, 'the journal lines name the unit');
        const half = await c.exec('dpkg-query', ['-W', '-f', '${Status}', PACKAGE], { allowFail: true });
        assert.equal(half.stdout, 'install ok half-configured');

        await c.exec('rm', ['/var/lib/phantommesh']);
        const fixed = await c.exec('dpkg', ['--configure', '-a'], { allowFail: true, timeoutMs: 180_000 });
        assert.equal(fixed.code, 0, `dpkg --configure -a:\n${fixed.stdout}${fixed.stderr}`);
        assert.equal(await unitState('is-active'), 'active');
      },
    );
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    if (failed && container) await printDiagnostics(container);
    await container?.poweroff();
    removeScratch();
    process.off('exit', removeScratch);
  }
});

/** The deb to test: PHANTOMMESH_HELPER_DEB, or one built now with scripts/package-linux.ts. */
async function obtainDeb(scratch: string[]): Promise<string> {
  const given = process.env.PHANTOMMESH_HELPER_DEB;
  if (given) {
    const path = resolve(given);
    if (!existsSync(path)) throw new Error(`PHANTOMMESH_HELPER_DEB=${given}: no such file`);
    return path;
  }
  const out = await mkdtemp(join(tmpdir(), 'pm-helper-deb-'));
  scratch.push(out);
  const built = await run(
    process.execPath,
    [join(ROOT, 'scripts/package-linux.ts'), '--out', out, '--no-rpm', '--no-lintian'],
    { timeoutMs: 10 * 60_000 },
  );
  const path = built.stdout.trim().split('\n').pop() ?? '';
  if (!path.endsWith('.deb') || !existsSync(path)) {
    throw new Error(`scripts/package-linux.ts did not print a .deb on its last line:\n${built.stdout}`);
  }
  return path;
}

type NetworkState = Record<string, string[]>;

/** Waits until `dev` has its IPv6 link-local address (the kernel adds it once the link has carrier). */
async function waitForLinkLocal(c: Container, dev: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const shown = (await c.exec('ip', ['-6', 'addr', 'show', 'dev', dev, 'scope', 'link'])).stdout;
    if (/inet6 fe80::/.test(shown) && !/tentative/.test(shown)) return;
    if (Date.now() > deadline) throw new Error(`${dev} has no usable link-local address:\n${shown}`);
    await sleep(50);
  }
}

/** Interfaces, routes (every table), policy rules and nft tables of the container's own namespace. */
async function networkState(c: Container): Promise<NetworkState> {
  const lines = async (cmd: string, args: string[]): Promise<string[]> =>
    (await c.exec(cmd, args)).stdout
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .sort();
  return {
    interfaces: (await lines('ip', ['-o', 'link', 'show'])).map((line) => line.split(':')[1]!.trim()).sort(),
    'ipv4 routes': await lines('ip', ['-4', 'route', 'show', 'table', 'all']),
    'ipv6 routes': await lines('ip', ['-6', 'route', 'show', 'table', 'all']),
    'ipv4 rules': await lines('ip', ['-4', 'rule', 'show']),
    'ipv6 rules': await lines('ip', ['-6', 'rule', 'show']),
    'nft tables': await lines('nft', ['list', 'tables']),
  };
}

/** For each kind, what `a` has that `b` has not. */
function difference(a: NetworkState, b: NetworkState): Array<[string, string[]]> {
  return Object.keys(a).map((kind) => [kind, a[kind]!.filter((line) => !b[kind]!.includes(line))]);
}

function capNames(caps: bigint): string {
  const names = CAP_NAMES.filter((_, bit) => (caps >> BigInt(bit)) & 1n);
  return names.length ? names.join(' ') : 'none';
}

async function printDiagnostics(c: Container): Promise<void> {
  for (const [title, cmd, args] of [
    ['journalctl -u phantommesh-helper -n 50', 'journalctl', ['-u', UNIT, '-n', '50', '--no-pager']],
    ['systemctl --failed', 'systemctl', ['--failed', '--no-pager']],
  ] as const) {
    const result = await c.exec(cmd, [...args], { allowFail: true }).catch((error: Error) => ({
      stdout: error.message,
      stderr: '',
    }));
    console.log(`# ${title} in the container:\n${result.stdout}${result.stderr}`);
  }
}
