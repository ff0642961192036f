/**
 * The posture page: one self-contained HTML file (inline CSS, no script, no font, no image, no network),
 * rendered from the PostureModel. Every hop carries `data-hop` and `data-colour`, and its colour comes from
 * a class, so a browser test can compare what is drawn with what the audit found.
 */
import type { HopColour, PostureFindingRef, PostureHop, PostureModel, PostureTarget } from './posture.ts';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

/** Fill colours of the three states; the legend and the browser test use the same values. */
export const COLOURS: Record<HopColour, string> = { green: '#1e8e3e', amber: '#f9ab00', red: '#d93025' };

const CSS = `
*{box-sizing:border-box}body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#202124;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dadce0;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.meta{color:#5f6368;margin-bottom:8px}.summary{font-weight:600;margin:8px 0}
.legend span{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;margin-right:6px;font-size:12px}
.chain{display:flex;align-items:stretch;flex-wrap:wrap;gap:0;margin:6px 0 4px}
.hop{width:190px;border-radius:8px;padding:8px 10px;color:#fff;font-size:12px;overflow-wrap:anywhere}
.hop .kind{font-weight:700;font-size:13px}.hop .values{font-family:ui-monospace,Menlo,monospace;font-size:11px;margin-top:4px}
.hop .reason{margin-top:4px;opacity:.95}
.arrow{align-self:center;width:28px;text-align:center;color:#5f6368;font-size:18px}
.client{background:#e8eaed;color:#202124}
.c-green{background:${COLOURS.green}}.c-amber{background:${COLOURS.amber};color:#202124}.c-red{background:${COLOURS.red}}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px;vertical-align:middle}
.rotation{color:#3c4043;font-size:13px;margin:4px 0 12px}
.bar{display:flex;width:420px;height:16px;border:1px solid #dadce0;border-radius:3px;overflow:hidden;margin:2px 0}
.bar .owned{background:#1a73e8}.bar .unowned{background:#9334e6}.bar .free{background:#e8eaed}
.group{margin:6px 0 10px}.group code{font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
details{margin-top:8px}summary{cursor:pointer;color:#1a73e8}
`;

function badge(colour: HopColour): string {
  return `<span class="dot c-${colour}" data-colour="${colour}"></span>`;
}

function hopBox(hop: PostureHop): string {
  return (
    `<div class="hop c-${hop.colour}" data-hop="${escapeHtml(hop.id)}" data-colour="${hop.colour}" title="${escapeHtml(hop.reason)}">` +
    `<div class="kind">${escapeHtml(hop.kind)} <small>(${hop.role})</small></div>` +
    `<div class="label">${escapeHtml(hop.label)}</div>` +
    `<div class="values">${hop.role === 'sender' ? 'sends' : 'accepts'} ${hop.values.map(escapeHtml).join(', ')}</div>` +
    `<div class="reason">${escapeHtml(hop.reason)}</div>` +
    `</div>`
  );
}

function secretSection(model: PostureModel): string {
  if (model.secrets.length === 0) return '<p>No secrets configured.</p>';
  return model.secrets
    .map((s) => {
      const boxes = ['<div class="hop client">client</div>', ...s.hops.map(hopBox)].join('<div class="arrow">&#8594;</div>');
      const rotation = [
        `rotation: ${escapeHtml(s.rotationStep)}`,
        `overlap ${s.overlap}`,
        s.ageDays !== undefined ? `age ${s.ageDays} d` : undefined,
        s.lastRotatedAt ? `last ${escapeHtml(s.lastRotatedAt)}` : undefined,
        s.nextRotationAt ? `next ${escapeHtml(s.nextRotationAt)}` : undefined,
      ].filter(Boolean);
      const own = s.findings.filter((f) => f.status !== 'PASS').map((f) => `<li>${escapeHtml(f.checkId)}: ${escapeHtml(f.message)}</li>`);
      return (
        `<section class="secret" data-secret="${escapeHtml(s.name)}" data-colour="${s.colour}">` +
        `<h3>${badge(s.colour)}${escapeHtml(s.name)} <small>${escapeHtml(s.secretName)}, header ${escapeHtml(s.headerName)}</small></h3>` +
        `<div class="chain">${boxes}</div>` +
        `<div class="rotation">${rotation.join(' &middot; ')}</div>` +
        (own.length ? `<ul>${own.join('')}</ul>` : '') +
        `</section>`
      );
    })
    .join('\n');
}

function targetSection(targets: PostureTarget[]): string {
  if (targets.length === 0) return '<p>No reconcile targets configured.</p>';
  return targets
    .map((t) => {
      const groups = t.groups.map((g) => {
        if (!g.families) return `<div class="group" data-group="${escapeHtml(g.groupId)}" data-colour="${g.colour}">${badge(g.colour)}<code>${escapeHtml(g.groupId)}</code>: not read</div>`;
        const bars = g.families.map((f) => {
          const pct = (n: number) => ((100 * n) / Math.max(f.quota, f.owned + f.unowned, 1)).toFixed(2);
          return (
            `<div>${f.family}: ${f.owned} owned, ${f.unowned} unowned, ${f.free} free of ${f.quota}</div>` +
            `<div class="bar" data-family="${f.family}"><div class="owned" style="width:${pct(f.owned)}%"></div>` +
            `<div class="unowned" style="width:${pct(f.unowned)}%"></div><div class="free" style="width:${pct(f.free)}%"></div></div>`
          );
        });
        return `<div class="group" data-group="${escapeHtml(g.groupId)}" data-colour="${g.colour}">${badge(g.colour)}<code>${escapeHtml(g.groupId)}</code>${bars.join('')}</div>`;
      });
      const notes = t.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('');
      const versions = [
        t.sourceVersions.applied ? `applied ${escapeHtml(t.sourceVersions.applied)}` : undefined,
        t.sourceVersions.planned ? `current ${escapeHtml(t.sourceVersions.planned)}` : undefined,
      ].filter(Boolean);
      return (
        `<section class="target" data-target="${escapeHtml(t.name)}" data-colour="${t.colour}">` +
        `<h3>${badge(t.colour)}${escapeHtml(t.name)} <small>plan: ${escapeHtml(t.status)}${t.held ? ', held' : ''}</small></h3>` +
        `<div class="versions" data-versions>AWS ranges version: ${versions.length ? versions.join(', ') : 'not known (no AWS source, or not planned)'}</div>` +
        groups.join('') +
        (notes ? `<ul>${notes}</ul>` : '') +
        `</section>`
      );
    })
    .join('\n');
}

function findingRows(findings: PostureFindingRef[], withFix: boolean): string {
  return findings
    .map(
      (f) =>
        `<tr data-finding="${escapeHtml(f.id)}" data-status="${escapeHtml(f.status)}"><td>${escapeHtml(f.status)}</td><td>${f.severity}</td>` +
        `<td>${escapeHtml(f.checkId)}</td><td>${escapeHtml(f.message)}</td>${withFix ? `<td>${escapeHtml(f.remediation)}</td>` : ''}</tr>`,
    )
    .join('');
}

function findingsSection(model: PostureModel): string {
  const failing = model.findings.filter((f) => f.status !== 'PASS');
  const passed = model.findings.filter((f) => f.status === 'PASS');
  const bySeverity = (['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'] as const)
    .map((sev) => [sev, failing.filter((f) => f.severity === sev)] as const)
    .filter(([, list]) => list.length > 0)
    .map(([sev, list]) => `<h3>${sev} (${list.length})</h3><table><tr><th>status</th><th>severity</th><th>check</th><th>what</th><th>fix</th></tr>${findingRows(list, true)}</table>`);
  return (
    (bySeverity.length ? bySeverity.join('') : '<p>No failing findings.</p>') +
    `<details><summary>${passed.length} passing findings</summary><table>${findingRows(passed, false)}</table></details>`
  );
}

export function renderPostureHtml(model: PostureModel): string {
  const { summary } = model;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>origin-guard posture</title><style>${CSS}</style></head>
<body>
<h1>origin-guard posture</h1>
<div class="meta">generated ${escapeHtml(model.generatedAt)} &middot; accounts ${model.accounts.map(escapeHtml).join(', ')} &middot; regions ${model.regions.map(escapeHtml).join(', ')}</div>
<div class="summary" data-summary>${summary.failed} failing, ${summary.unknown} inconclusive, ${summary.passed} passing of ${summary.findings} findings</div>
<div class="legend"><span class="c-green">holds</span><span class="c-amber">unknown / not checked</span><span class="c-red">fails</span></div>
<h2>Chain per secret: client &#8594; CDN &#8594; WAF &#8594; Kong &#8594; upstream</h2>
${secretSection(model)}
<h2>Security groups per reconcile target</h2>
<div class="legend"><span style="background:#1a73e8">owned by origin-guard</span><span style="background:#9334e6">unowned</span><span style="background:#9aa0a6">free</span></div>
${targetSection(model.targets)}
<h2>Findings, failures first</h2>
${findingsSection(model)}
</body></html>
`;
}
