/*
 * The HTML of every page: one shell whose `data-page` tells the browser
 * script which view to build from the JSON API. The token goes in a meta tag
 * for the script's requests; only a page of the inspector's own origin can
 * read it.
 */

/** The pages of the inspector. */
export type PageName = 'overview' | 'module' | 'entry' | 'leases';

/** The HTML of `page`. */
export function pageHtml(page: PageName, token: string, writable: boolean): string {
  const current = (name: PageName): string => (page === name || (name === 'overview' && page !== 'leases') ? ' class="current"' : '');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="memostrata-token" content="${escapeHtml(token)}">
<title>memostrata inspector</title>
<link rel="stylesheet" href="/static/uPlot.min.css">
<link rel="stylesheet" href="/static/inspector.css">
</head>
<body data-page="${page}" data-writable="${writable}">
<header>
<span class="brand">memostrata inspector</span>
<nav><a href="/"${current('overview')}>Overview</a><a href="/leases"${current('leases')}>Running calls</a></nav>
<span class="mode${writable ? ' write' : ''}">${writable ? 'writes enabled' : 'read-only'}</span>
</header>
<main id="main"><p class="muted">Loading…</p></main>
<script src="/static/uPlot.iife.min.js"></script>
<script src="/static/inspector.js"></script>
</body>
</html>
`;
}

/** The page a request without the token gets. */
export const UNAUTHORIZED_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>memostrata inspector: token needed</title></head>
<body><h1>Token needed</h1><p>Open the URL that <code>memostrata serve</code> printed (it carries the access token).</p></body></html>
`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}
