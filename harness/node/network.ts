// The node's network on this machine: the bridge holding the node's address, the route
// that sends Service traffic to it, the sysctls pods need, and an nftables table that
// keeps pod traffic on the bridge. teardown.ts undoes all of it.
import { run } from './exec.js';
import { NODE } from './paths.js';
import { writeSysctl } from './teardown.js';

export async function setUpNetwork(): Promise<void> {
  const { bridge, ip, serviceCidr } = NODE;
  await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `${ip}/24`, 'dev', bridge]);
  await run('ip', ['link', 'set', bridge, 'up']);
  // Host-originated Service traffic (the API server calling a webhook's ClusterIP)
  // goes to the bridge, where kube-proxy's DNAT applies; never to the default route.
  await run('ip', ['route', 'add', serviceCidr, 'dev', bridge, 'src', ip]);
  // Pod -> Service -> pod on the same bridge needs forwarding, and bridged replies
  // must pass netfilter so conntrack undoes the DNAT.
  writeSysctl('net/ipv4/ip_forward', '1');
  writeSysctl('net/bridge/bridge-nf-call-iptables', '1');
  await run('nft', ['-f', '-'], { input: firewall() });
}

/** The `inet kaos-node` table (teardown.ts's NFT_TABLES names it too). */
export function firewall(): string {
  const { bridge, podCidr, serviceCidr } = NODE;
  return `table inet kaos-node {
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${bridge}" oifname "${bridge}" accept
    iifname "${bridge}" counter drop comment "pod traffic never leaves the node's bridge"
    oifname "${bridge}" counter drop comment "nothing from another interface reaches a pod"
  }
  chain output {
    type filter hook output priority filter; policy accept;
    ip daddr { ${podCidr}, ${serviceCidr} } oifname != { "${bridge}", "lo" } counter drop
  }
}
`;
}
