import { raw } from "hono/html";
import type { ServiceCard } from "./dashboard-data.ts";
import { PAGE_HEADER, PAGE_HEADER_VALUE } from "./dashboard-guard.ts";
import { REFRESH_MS } from "./dashboard-refresh.ts";

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:0}
.muted{color:#5b6475}.card{background:#fff;border:1px solid #d9dde5;border-radius:8px;padding:16px;margin:16px 0}
.head{display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}
table{border-collapse:collapse;width:100%;margin-top:12px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceff3}
th{font-weight:600;color:#5b6475}.num{text-align:right;font-variant-numeric:tabular-nums}td.num{white-space:nowrap}
.state{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.healthy{background:#dff3e4;color:#17643a}.ejected{background:#fde2e1;color:#9b1c1c}
.unhealthy{background:#fdecd2;color:#8a4b08}.draining{background:#e4e7fb;color:#2c3a9b}
.slow{background:#e6f4fb;color:#0b5a7a}.panic{color:#9b1c1c;font-weight:600}
svg{background:#fbfcfd;border:1px solid #eceff3}
form{display:flex;gap:8px;margin-top:12px}input{padding:6px 8px;min-width:320px}button{padding:6px 12px}
`;

function Layout(props: { children: unknown; nonce?: string | undefined; script?: string }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Roundhouse</title>
        <style nonce={props.nonce}>{raw(STYLE)}</style>
      </head>
      <body>
        {props.children}
        {/* Our own constant text, not escaped: escaping would break the script's quotes. */}
        {props.script ? <script nonce={props.nonce}>{raw(props.script)}</script> : null}
      </body>
    </html>
  );
}

/** The sign-in form; the token goes in the POST body, never in a URL. */
export function SignIn(props: { error?: string | undefined; nonce?: string | undefined }) {
  return (
    <Layout nonce={props.nonce}>
      <h1>Roundhouse</h1>
      <p class="muted">Sign in with the gateway's admin token.</p>
      <form method="post" action="/_gw/dashboard/login">
        <input
          type="password"
          name="token"
          aria-label="admin token"
          autocomplete="current-password"
        />
        <button type="submit">Sign in</button>
      </form>
      {props.error ? <p class="panic">{props.error}</p> : null}
    </Layout>
  );
}

const refresh = `setInterval(async()=>{const r=await fetch("/_gw/dashboard/fragment",{credentials:"same-origin",headers:{"${PAGE_HEADER}":"${PAGE_HEADER_VALUE}"}});if(r.status===401){location.reload();return}if(r.ok)document.getElementById("services").innerHTML=await r.text()},${REFRESH_MS});`;

/** The whole page: the services, re-rendered in place every REFRESH_MS. */
export function Dashboard(props: { cards: readonly ServiceCard[]; nonce?: string | undefined }) {
  return (
    <Layout nonce={props.nonce} script={refresh}>
      <div class="head">
        <h1>Roundhouse</h1>
        <span class="muted">refreshes every {REFRESH_MS / 1000} s</span>
        <form method="post" action="/_gw/dashboard/logout">
          <button type="submit">Sign out</button>
        </form>
      </div>
      <div id="services">
        <Services cards={props.cards} />
      </div>
    </Layout>
  );
}

/** Every service's card: the part of the page that refreshes. */
export function Services(props: { cards: readonly ServiceCard[] }) {
  return (
    <>
      {props.cards.map((card) => (
        <Card card={card} />
      ))}
      <p class="muted">updated {new Date().toISOString().slice(11, 19)} UTC</p>
    </>
  );
}

const ms = (value: number | null) => (value === null ? "–" : `${value} ms`);
const rate = (perSecond: number) => (perSecond >= 10 ? perSecond.toFixed(0) : perSecond.toFixed(2));
const pct = (share: number) => `${(share * 100).toFixed(1)}%`;

function Card({ card }: { card: ServiceCard }) {
  return (
    <section class="card" data-service={card.name}>
      <div class="head">
        <h2>{card.name}</h2>
        <span class="muted">{card.policy}</span>
        <span>
          scope <b>{card.serving ?? "none"}</b>
          {card.panic ? <span class="panic"> · panic</span> : null}
        </span>
        <span>{rate(card.figures.perSecond)} req/s</span>
        <span>errors {pct(card.figures.errorRate)}</span>
        <span>
          p50 {ms(card.figures.p50Ms)} · p99 {ms(card.figures.p99Ms)}
        </span>
      </div>
      <p class="muted">
        discovery: {card.discovery}
        {card.peers.length > 0
          ? ` · peers: ${card.peers.map((p) => `${p.peer} ${p.pending} pending`).join(", ")}`
          : ""}
      </p>
      <Chart points={card.chart} />
      <table>
        <thead>
          <tr>
            <th>node</th>
            <th>state</th>
            <th class="num">weight</th>
            <th class="num">in flight (gate)</th>
            <th class="num">queued</th>
            <th class="num">leased slots</th>
            <th class="num">req/s</th>
            <th class="num">failed attempts</th>
            <th class="num">p50</th>
            <th class="num">p99</th>
          </tr>
        </thead>
        <tbody>
          {card.nodes.map((node) => (
            <tr data-node={node.id} data-state={node.state}>
              <td>
                {node.id}
                <div class="muted">{node.url}</div>
              </td>
              <td>
                <span class={`state ${node.state === "slow start" ? "slow" : node.state}`}>
                  {node.state}
                </span>
                {node.why ? <div class="muted">{node.why}</div> : null}
              </td>
              <td class="num">{node.weight}</td>
              <td class="num">{node.inFlight}</td>
              <td class="num">{node.queued}</td>
              <td class="num">{node.leased}</td>
              <td class="num">{rate(node.perSecond)}</td>
              <td class="num">{pct(node.errorRate)}</td>
              <td class="num">{ms(node.p50Ms)}</td>
              <td class="num">{ms(node.p99Ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** p50 and p99 over the last five minutes as two lines, drawn on a log scale of milliseconds. */
function Chart({ points }: { points: ServiceCard["chart"] }) {
  const width = 300;
  const height = 60;
  if (points.length === 0) return <p class="muted">no traffic in the last five minutes</p>;
  const y = (value: number | null) => {
    const v = Math.log10(Math.max(1, value ?? 1));
    return (height - 4 - (v / 4) * (height - 8)).toFixed(1);
  };
  const x = (i: number) => ((i / Math.max(1, points.length - 1)) * (width - 8) + 4).toFixed(1);
  const line = (pick: (p: ServiceCard["chart"][number]) => number | null) =>
    points.map((p, i) => `${x(i)},${y(pick(p))}`).join(" ");
  return (
    <svg width={width} height={height} role="img" aria-label="p50 and p99 over five minutes">
      <polyline fill="none" stroke="#2f6fdb" stroke-width="1.5" points={line((p) => p.p50Ms)} />
      <polyline fill="none" stroke="#d9480f" stroke-width="1.5" points={line((p) => p.p99Ms)} />
      {points.map((p, i) => (
        <>
          <circle cx={x(i)} cy={y(p.p50Ms)} r="2" fill="#2f6fdb" />
          <circle cx={x(i)} cy={y(p.p99Ms)} r="2" fill="#d9480f" />
        </>
      ))}
      <text x="6" y="12" font-size="10" fill="#2f6fdb">
        p50
      </text>
      <text x="30" y="12" font-size="10" fill="#d9480f">
        p99
      </text>
    </svg>
  );
}
