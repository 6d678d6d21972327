/** The inspector's stylesheet (served as `/static/inspector.css`). */
export const STYLE = String.raw`
:root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --accent: #2f6fde; --bg: #f7f8fa; --danger: #c0362c; --ok: #1f8a4c; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 1.5rem; padding: 0.7rem 1.5rem; background: #1d2330; color: #fff; }
header .brand { font-weight: 600; letter-spacing: 0.02em; }
header nav a { color: #c9d4ea; margin-right: 1rem; text-decoration: none; }
header nav a.current, header nav a:hover { color: #fff; }
header .mode { margin-left: auto; font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #3a4356; }
header .mode.write { background: var(--danger); }
main { padding: 1.2rem 1.5rem 3rem; max-width: 1280px; }
h1 { font-size: 20px; margin: 0 0 0.8rem; word-break: break-all; }
h2 { font-size: 16px; margin: 1.6rem 0 0.6rem; }
a { color: var(--accent); }
.crumbs { color: var(--muted); margin-bottom: 0.4rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 0.9rem 1.1rem; margin-bottom: 1rem; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 0.6rem 1.2rem; margin: 0; }
.figures div { min-width: 0; }
.figures dt { color: var(--muted); font-size: 12px; }
.figures dd { margin: 0; font-size: 17px; font-weight: 600; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: #eef1f6; font-weight: 600; font-size: 13px; }
th.sortable { cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " \25B2"; font-size: 10px; }
th.sorted-desc::after { content: " \25BC"; font-size: 10px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
tr:hover td { background: #f5f8ff; }
.toolbar { display: flex; flex-wrap: wrap; gap: 0.6rem; align-items: end; margin-bottom: 0.8rem; }
.toolbar label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
input, select, button { font: inherit; padding: 4px 8px; border: 1px solid #c6cbd4; border-radius: 5px; background: #fff; }
button { cursor: pointer; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.danger { background: var(--danger); color: #fff; border-color: var(--danger); }
button:disabled { opacity: 0.5; cursor: default; }
.pager { display: flex; gap: 0.8rem; align-items: center; margin: 0.6rem 0; color: var(--muted); }
.muted { color: var(--muted); }
.error { color: var(--danger); }
.ok { color: var(--ok); }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; background: #eef1f6; }
.badge.error { background: #fbe4e2; }
.badge.latest { background: #dcecff; }
.badge.pinned { background: #fff1c2; }
pre.value { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 0.7rem; overflow: auto; max-height: 420px; margin: 0.3rem 0 0.6rem; font-size: 12.5px; }
.plot { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem; margin-bottom: 0.8rem; display: inline-block; }
.plot .caption { font-size: 12px; color: var(--muted); margin-bottom: 0.2rem; }
.plot .reading { font-size: 12px; color: var(--muted); margin-bottom: 0.2rem; }
.plot .reading.sampled { color: #8a5a00; }
.later { border: 1px dashed #b8c0cc; border-radius: 8px; padding: 0.7rem 1rem; color: var(--muted); background: #fbfcfd; margin-bottom: 0.8rem; }
ul.tree { margin: 0.2rem 0 0.6rem; padding-left: 1.2rem; }
.lineage h3 { font-size: 13px; margin: 0.3rem 0; color: var(--muted); }
#neighbour-table td[data-field="differences"] { white-space: normal; }
.notice { padding: 0.5rem 0.8rem; border-radius: 6px; background: #e6f4ea; margin-bottom: 0.8rem; }
`;
