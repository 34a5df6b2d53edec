// Every string the renderer shows to people, in one place so it can be translated. Functions take
// the values they interpolate; nothing else in the renderer writes user-facing English.
// Pure module (no DOM), so the unit tests can import it.

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

export const strings = {
  appName: 'PhantomMesh',

  nav: {
    label: 'Sections',
    tunnels: 'Tunnels',
    logs: 'Logs',
    settings: 'Settings',
  },

  overall: {
    label: 'VPN status',
    connected: (names: string[]) =>
      names.length === 1 ? `Connected: ${names[0]}` : `Connected: ${names.length} tunnels`,
    connecting: 'Connecting…',
    reconnecting: 'Reconnecting…',
    disconnected: 'Not connected',
    error: 'Connection failed',
    helperDown: 'Helper unavailable',
    helperConnecting: 'Waiting for the helper',
    appLinkMissing: 'Not connected to the app',
    host: {
      'no-token': 'No access token',
      'token-refused': 'Access token refused',
      'host-unreachable': 'Browser host not reachable',
      'host-closed': 'Browser host stopped',
    },
  },

  state: {
    connected: 'Connected',
    connecting: 'Connecting…',
    reconnecting: 'Reconnecting…',
    reconnectingAttempt: (attempt: number, seconds: number | string) =>
      `Reconnecting (attempt ${attempt}, next in ${seconds} s)`,
    disconnected: 'Disconnected',
    disconnecting: 'Disconnecting…',
    error: 'Connection failed',
    'no-peer': 'No peer',
  },

  helper: {
    connectingTitle: 'Connecting to the helper…',
    connectingBody: 'PhantomMesh is reaching its background service.',
    unavailableTitle: 'PhantomMesh helper is not running',
    unavailableBody:
      'The helper is the background service that sets up tunnels. Without it, nothing can connect.',
    startHelper: 'Start helper',
    startingHelper: 'Starting…',
    startRequested: 'Asked the system to start the helper. This page updates once it answers.',
    outOfDateTitle: 'Helper out of date',
    outOfDateBody: 'The helper and the app are different versions. Install the same version of both.',
    unauthorizedTitle: 'Not allowed to use the helper',
    unauthorizedBody: 'Your account is not allowed to control the helper.',
    bridgeMissingTitle: 'The app could not start its connection',
    bridgeMissingBody: 'The window has no link to the PhantomMesh app. Restart PhantomMesh.',
    settingsNeedHelper: 'These settings are kept by the helper and can be changed once it is running.',
  },

  /** The browser host (npm run web, npm start without Electron): the page's own link to it. */
  host: {
    'no-token': {
      title: 'This page needs its access token',
      body: 'The browser host answers only the page it gave a token to. Open the URL printed by npm run web (or npm start), with its token:',
    },
    'token-refused': {
      title: 'The access token was refused',
      body: 'This page holds a token the browser host does not know (it makes a new one each time it starts). Open the URL printed by npm run web (or npm start), with its token:',
    },
    'host-unreachable': {
      title: 'The browser host is not reachable',
      body: 'Start it with npm run web (or npm start), then open the URL it prints, with its token:',
    },
    'host-closed': {
      title: 'The browser host stopped',
      body: 'Start it again with npm run web (or npm start), then open the URL it prints, with its token:',
    },
    address: (host: string) => `http://${host}/?token=…`,
  },

  tunnels: {
    listLabel: 'Tunnels',
    loading: 'Loading tunnels…',
    loadFailed: 'Could not load your tunnels',
    retry: 'Try again',
    emptyTitle: 'No tunnels yet',
    emptyBody:
      'Import a WireGuard configuration file from your VPN provider or server, or create a new tunnel with a fresh key pair.',
    dropHint: 'You can also drop a .conf file anywhere in this window.',
    importTunnel: 'Import tunnel',
    createTunnel: 'Create tunnel',
    noSelection: 'Select a tunnel to see its details.',
  },

  detail: {
    connect: 'Connect',
    disconnect: 'Disconnect',
    edit: 'Edit',
    exportTunnel: 'Export',
    delete: 'Delete',
    actions: 'Tunnel actions',
    exported: (path: string) => `Exported to ${path}`,
    connectFailed: (message: string) => `Could not connect: ${message}`,
    disconnectFailed: (message: string) => `Could not disconnect: ${message}`,
    addresses: 'Addresses',
    endpoint: 'Endpoint',
    latestHandshake: 'Latest handshake',
    received: 'Received',
    sent: 'Sent',
    none: 'None',
    never: 'Never',
    traffic: 'Traffic',
    trafficLabel: (rx: string, tx: string) =>
      `Traffic over the last 60 seconds. Now receiving ${rx}, sending ${tx}.`,
    trafficDown: 'Download',
    trafficUp: 'Upload',
    trafficIdle: 'The chart fills in while the tunnel is up.',
    trafficAxisNow: 'now',
    trafficAxisStart: '60 s ago',
    interfaceSection: 'Interface',
    publicKey: 'Public key',
    copyPublicKey: 'Copy public key',
    copied: 'Public key copied to the clipboard',
    copyFailed: (message: string) => `Could not copy: ${message}`,
    dns: 'DNS servers',
    dnsSearch: 'DNS search domains',
    mtu: 'MTU',
    listenPort: 'Listen port',
    peers: 'Peers',
    peersCount: (n: number) => String(n),
    noPeers: 'This tunnel has no peers yet. Use Edit to add the server you connect to.',
    noPeerReason:
      'It has no [Peer]: nothing to connect to. Add the server as a peer, with its public key, allowed IPs and endpoint.',
    noPeerUpReason:
      'It is up but has no [Peer], so it cannot connect. Disconnect it, then add the server as a peer.',
    connectNeedsPeer:
      'A peer is needed first: a tunnel connects to the server in its [Peer] section (PublicKey, AllowedIPs, Endpoint). Choose "Add a peer…" to fill one in.',
    addPeer: 'Add a peer…',
    peer: (n: number) => `Peer ${n}`,
    allowedIps: 'Allowed IPs',
    presharedKey: 'Preshared key',
    presharedKeyYes: 'Yes',
    keepalive: 'Persistent keepalive',
    keepaliveEvery: (s: number) => `Every ${s} s`,
    transfer: 'Transfer',
    transferValue: (rx: string, tx: string) => `${rx} received, ${tx} sent`,
  },

  age: {
    justNow: 'Just now',
    ago: (parts: string) => `${parts} ago`,
    seconds: (n: number) => plural(n, 'second', 'seconds'),
    minutes: (n: number) => plural(n, 'minute', 'minutes'),
    hours: (n: number) => plural(n, 'hour', 'hours'),
    days: (n: number) => plural(n, 'day', 'days'),
    join: (a: string, b: string) => `${a}, ${b}`,
  },

  units: {
    bytes: ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const,
    perSecond: (amount: string) => `${amount}/s`,
  },

  dialog: {
    close: 'Close',
    cancel: 'Cancel',
    done: 'Done',
  },

  importDialog: {
    imported: (name: string) => `Tunnel ${name} imported`,
    title: 'Import tunnel',
    intro: 'Paste a WireGuard configuration, choose a .conf file or drop one on the window.',
    name: 'Tunnel name',
    nameHint: 'Up to 15 letters, digits or _ = + . - (it becomes the network interface name).',
    configuration: 'Configuration',
    placeholder:
      '[Interface]\nPrivateKey = …\nAddress = 10.0.0.2/32\n\n[Peer]\nPublicKey = …\nAllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = vpn.example.com:51820',
    chooseFile: 'Choose file…',
    fileLoaded: (file: string) => `Loaded ${file}`,
    fileFailed: (message: string) => `Could not open the file: ${message}`,
    submit: 'Import',
    submitting: 'Importing…',
    emptyText: 'Paste a configuration or choose a file.',
    errorsTitle: (n: number) =>
      n === 1 ? 'This configuration has a problem:' : `This configuration has ${n} problems:`,
  },

  createDialog: {
    title: 'Create tunnel',
    intro:
      'PhantomMesh makes a new key pair for this tunnel. Give the public key to the server you connect to, then add the server as a peer with Edit.',
    submit: 'Create',
    submitting: 'Creating…',
    created: (name: string) => `Tunnel ${name} created`,
    publicKeyIntro: 'Its public key, to give to your server:',
    editNow: 'Edit configuration',
  },

  editDialog: {
    title: (name: string) => `Edit ${name}`,
    noPeer: 'This tunnel has no peer yet. Add the server it connects to:',
    addPeer: 'Add a [Peer] template',
    peerAdded: "A [Peer] template was added: replace the values in <…> with the server's, then save.",
    configuration: 'Configuration',
    keyKept: 'The private key is not shown: the helper keeps it and adds it back when you save.',
    reconnectNote: 'This tunnel is up: saving reconnects it.',
    loading: 'Loading the configuration…',
    save: 'Save',
    saving: 'Saving…',
    valid: 'No problems found.',
    saved: (name: string) => `Saved ${name}`,
    errorsTitle: (n: number) => (n === 1 ? '1 problem' : `${n} problems`),
  },

  exportDialog: {
    title: (name: string) => `Export ${name}`,
    choice: 'What to export',
    public: 'Configuration without the private key',
    publicHelp: 'To look at or share. It cannot connect on its own: the private key stays with the helper.',
    full: 'Full backup, with the private key',
    fullHelp:
      'To restore this tunnel on another computer. Only root may export a private key; keep the file secret (it is saved readable by you only).',
    submit: 'Export…',
    submitting: 'Exporting…',
    failed: (message: string) => `Could not export: ${message}`,
    refused: (name: string, message: string) =>
      `The helper refused: ${message}. The app does not run as root; for a full backup run in a terminal: sudo phantommesh export ${name} --private-key > ${name}.conf`,
  },

  /** A tunnel's transport: the detail's card and the dialog that changes it (lib/transport.ts). */
  transport: {
    section: 'Transport',
    change: 'Change transport…',
    loading: 'Loading the transport…',
    loadFailed: (message: string) => `Could not load the transport: ${message}`,
    udpSummary: 'UDP (WireGuard’s own)',
    relaySummary: (url: string) => `Relay ${url}`,
    relayFallbackSummary: (url: string) => `Relay ${url}, after UDP`,
    relayUrl: 'Relay URL',
    fallback: 'Fallback',
    fallbackOn: 'UDP first; the relay while UDP goes unanswered',
    fallbackOff: 'Always the relay',
    proxy: 'HTTP proxy',
    clientCertificate: 'Client certificate',
    ca: 'Trusted CA',
    carriedBy: 'Carried by',
    viaUdp: 'UDP',
    viaRelay: (url: string) => `via relay ${url}`,
    viaRelayUnnamed: 'via relay',

    dialogTitle: (name: string) => `Transport of ${name}`,
    intro:
      'How this tunnel’s WireGuard packets travel. Where UDP is blocked (hotels, airports, some offices), a PhantomMesh relay beside your server carries them over TCP or a WebSocket.',
    choice: 'Transport',
    udp: 'UDP',
    udpHelp: 'WireGuard’s own transport, straight to the server. The fastest; the default.',
    relay: 'Relay',
    relayHelp:
      'Through phantommesh-relay beside the server, over tcp://, ws:// (behind a TLS proxy) or wss://.',
    urlHint: 'tcp://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST[:PORT]/PATH',
    fallbackLabel: 'Use UDP first, relay as fallback',
    fallbackHelp: 'The relay takes over while UDP handshakes go unanswered; UDP is tried again later.',
    proxyLabel: 'HTTP proxy (optional)',
    proxyHint: 'http://HOST:PORT, or http://USER:PASSWORD@HOST:PORT',
    proxyRetype: 'This tunnel has a proxy with a password, which the helper does not show: type it again.',
    tlsTitle: 'TLS client authentication (optional)',
    tlsHelp:
      'For a relay that asks for client certificates. The files are read by the app and kept by the helper, readable by root only; this window never sees their contents.',
    clientCertLabel: 'Client certificate',
    clientKeyLabel: 'Client key',
    caLabel: 'CA certificate (optional)',
    caHelp: 'Trust the relay’s certificate when it is signed by this CA instead of a public one.',
    choose: 'Choose file…',
    remove: (what: string) => `Remove ${what}`,
    noFile: 'No file chosen',
    chosen: (file: string) => file,
    chooseFailed: (message: string) => `Could not use the file: ${message}`,
    keepLabel: 'Keep the stored certificate files and proxy',
    keepHelp: 'What you do not choose or type again stays as the helper has it. Untick to remove them.',
    filesReplaced: (what: string) =>
      `Saving replaces the stored files: choose the ${what} again to keep it (the helper never gives them back).`,
    reconnectNote: 'This tunnel is up: saving reconnects it over the new transport.',
    filesAgain: 'Choose the certificate files again: the app let go of them.',
    save: 'Save',
    saving: 'Saving…',
    saved: (name: string, summary: string) => `Transport of ${name}: ${summary}`,
    errors: {
      urlEmpty: 'Enter the relay’s URL, e.g. wss://relay.example.com/wg.',
      urlShape: 'A relay URL is tcp://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST[:PORT]/PATH.',
      urlScheme: (scheme: string) => `${scheme}:// is not a relay transport: use tcp://, ws:// or wss://.`,
      whiteSpace: 'Remove the spaces: a URL has none.',
      queryOrFragment: 'A relay URL has no ?query or #fragment.',
      urlCredentials: 'A relay URL has no user name or password (use a client certificate with wss://).',
      ipv6Brackets: 'Close the [IPv6 address] with ].',
      afterAddress: (text: string) => `Unexpected “${text}” after the address: write [ADDRESS]:PORT.`,
      notIpv6: (text: string) => `[${text}] is not an IPv6 address.`,
      ipv6NeedsBrackets: 'Write an IPv6 address in [brackets], e.g. tcp://[2001:db8::1]:443.',
      noHost: 'The host is missing.',
      badHost: (host: string) => `“${host}” is neither an IP address nor a host name.`,
      port: (port: string) => `The port “${port}” is not a number from 1 to 65535.`,
      tcpPort: 'tcp:// needs a port: tcp://HOST:PORT.',
      tcpPath: 'tcp:// takes no path: tcp://HOST:PORT.',
      pathTooLong: (max: number) => `The path is longer than ${max} characters.`,
      pathCharacters: "The path may hold only letters, digits and -._~!$&'()*+,;=:@/ (no % escapes).",
      tooLong: (max: number) => `At most ${max} characters.`,
      proxyShape: 'A proxy URL is http://HOST:PORT or http://USER:PASSWORD@HOST:PORT.',
      proxyHttps: 'The proxy is spoken to over plain HTTP (CONNECT): use http://, not https://.',
      proxyPath: 'A proxy URL has no path, ?query or #fragment: http://HOST:PORT.',
      proxyRedacted: 'The helper shows a stored proxy password as ***: type the real user name and password.',
      proxyUserColon: 'The user name may not contain “:”.',
      proxyEscape: 'The user name or password has an invalid %-escape.',
      keyMissing: 'Choose the key of the client certificate too.',
      certMissing: 'Choose the client certificate this key belongs to.',
    },
  },

  deleteDialog: {
    title: (name: string) => `Delete tunnel ${name}?`,
    body: 'Its configuration and private key are removed from this computer. This cannot be undone.',
    connectedNote: 'The tunnel is up and will be disconnected first.',
    confirm: 'Delete',
    deleting: 'Deleting…',
    deleted: (name: string) => `Deleted ${name}`,
  },

  nameErrors: {
    empty: 'Enter a name for the tunnel.',
    invalid: 'Use 1-15 letters, digits or _ = + . - (no spaces), not starting with -.',
    dots: 'A tunnel name cannot be "." or "..".',
    taken: (name: string) => `A tunnel named ${name} already exists.`,
  },

  configErrors: {
    /** ConfigError messages start with "line N:"; people read "Line N:". */
    line: (message: string) => message.replace(/^line (\d+):/, 'Line $1:'),
    atLine: (line: number, message: string) => `Line ${line}: ${message}`,
    hook: (line: number, key: string) =>
      `Line ${line}: ${key}: PhantomMesh never runs shell commands from a configuration (its helper runs as root); remove this line`,
  },

  editor: {
    gutter: 'Line numbers',
  },

  blocking: {
    label: 'Traffic outside the tunnels is blocked',
    restored: 'Another program removed the kill switch; PhantomMesh restored it.',
  },

  settings: {
    title: 'Settings',
    connection: 'Connection',
    connectionHelp: 'Kept by the helper for everyone on this computer.',
    killSwitch: 'Kill switch',
    killSwitchHelp:
      'From connecting a tunnel until you disconnect it, block all traffic that does not go through a tunnel, also while it reconnects, is edited or the helper restarts.',
    lockdown: 'Lockdown mode',
    lockdownHelp:
      'Block all traffic that does not go through a tunnel, even when no tunnel is connected and from early boot, until you turn this off.',
    allowLan: 'Allow local network',
    allowLanHelp: 'Let traffic to your local network (printers, file shares) bypass the tunnel.',
    app: 'App',
    appHelp: 'Kept for your account only.',
    startAtLogin: 'Start at login',
    startAtLoginHelp: 'Open PhantomMesh when you log in.',
    connectOnLaunch: 'Connect on launch',
    connectOnLaunchHelp: 'Connect this tunnel when PhantomMesh starts.',
    connectOnLaunchNone: 'None',
    closeToTray: 'Close to tray',
    closeToTrayHelp: 'Closing the window keeps PhantomMesh running in the tray.',
    theme: 'Theme',
    themeHelp: 'Follow the system, or always use light or dark.',
    themeSystem: 'System',
    themeLight: 'Light',
    themeDark: 'Dark',
    saveFailed: (message: string) => `Could not save the setting: ${message}`,
    version: (version: string) => `PhantomMesh ${version}`,
    help: 'Help',
    reportIssue: 'Report an issue',
    linkFailed: (message: string) => `Could not open the link: ${message}`,
  },

  logs: {
    title: 'Logs',
    intro:
      "The helper's log, live. Save a diagnostics report to attach to a bug report; it contains no keys.",
    label: 'Helper log',
    empty: 'No log lines yet.',
    loading: 'Loading the log…',
    loadFailed: (message: string) => `Could not load the log: ${message}`,
    saveDiagnostics: 'Save diagnostics…',
    saving: 'Saving…',
    saved: (path: string) => `Diagnostics saved to ${path}`,
    saveFailed: (message: string) => `Could not save diagnostics: ${message}`,
    follow: 'Follow new lines',
    levels: { debug: 'debug', info: 'info', warn: 'warn', error: 'error' },
  },

  drop: {
    title: 'Drop to import',
    body: 'Release to import this WireGuard configuration.',
    notConf: 'Only .conf files can be imported.',
    readFailed: (message: string) => `Could not read the file: ${message}`,
  },

  errors: {
    unknown: 'Something went wrong.',
  },
} as const;
