/**
 * The inspector's browser script (served as `/static/inspector.js`). Plain
 * JavaScript in a string, so the package ships it without a browser build
 * step. It builds every element with `textContent` (never `innerHTML` with
 * data), reads the JSON API, and sends the token from the page's meta tag
 * with each request so writes pass the server's cross-site check.
 * Written without backquotes or dollar-brace, as the string is a template literal.
 */
export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var token = document.querySelector('meta[name="memostrata-token"]').getAttribute('content');
  var page = document.body.getAttribute('data-page');
  var main = document.getElementById('main');

  // ---- helpers ------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (name) {
      var value = attrs[name];
      if (value === undefined || value === null || value === false) return;
      if (name === 'text') node.textContent = String(value);
      else if (name.slice(0, 2) === 'on') node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    });
    (children || []).forEach(function (child) {
      if (child === undefined || child === null) return;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  async function api(path, options) {
    var response = await fetch(path, {
      method: (options && options.method) || 'GET',
      headers: { 'X-Memostrata-Token': token, 'Accept': 'application/json' },
      credentials: 'same-origin',
    });
    var body = await response.json().catch(function () { return {}; });
    if (!response.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + response.status));
    return body;
  }
  function number(n) { return n === null || n === undefined ? '-' : Number(n).toLocaleString('en-US'); }
  function size(bytes) {
    if (bytes === null || bytes === undefined) return '-';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var value = bytes, unit = 0;
    while (Math.abs(value) >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return unit === 0 ? value + ' B' : (value < 10 ? value.toFixed(1) : Math.round(value)) + ' ' + units[unit];
  }
  function duration(ms) {
    if (ms === null || ms === undefined || !isFinite(ms)) return '-';
    if (ms < 1000) return Math.round(ms) + ' ms';
    var s = ms / 1000;
    if (s < 60) return (s < 10 ? s.toFixed(1) : Math.round(s)) + ' s';
    var min = s / 60;
    if (min < 60) return (min < 10 ? min.toFixed(1) : Math.round(min)) + ' min';
    var h = min / 60;
    return (h < 10 ? h.toFixed(1) : Math.round(h)) + ' h';
  }
  function time(iso) {
    if (!iso) return 'never';
    var d = new Date(iso);
    function two(n) { return String(n).padStart(2, '0'); }
    return d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate()) + ' ' + two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
  }
  function round(n) { return n === null ? '-' : String(Number(n.toPrecision(6))); }
  function percent(rate) { return rate === null || rate === undefined ? '-' : (rate * 100).toFixed(1) + '%'; }
  function moduleHref(name) { return '/modules/' + encodeURIComponent(name); }
  function entryHref(name, call) { return moduleHref(name) + '/entries/' + call; }
  function cell(field, value, text, className) {
    return el('td', { 'data-field': field, 'data-value': value === null || value === undefined ? '' : String(value), 'class': className, text: text });
  }
  function figure(label, field, value, text) {
    return el('div', null, [el('dt', { text: label }), el('dd', { 'data-field': field, 'data-value': value === null || value === undefined ? '' : String(value), text: text })]);
  }
  function showError(error) {
    main.appendChild(el('p', { 'class': 'error', role: 'alert', text: error.message }));
  }
  function chart(target, title, xs, ys, options) {
    if (typeof uPlot !== 'function') return;
    var width = Math.min(target.clientWidth || 640, 900);
    var opts = {
      title: title,
      width: width,
      height: options.height || 220,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false, range: options.xRange } },
      axes: [
        { values: options.xValues, splits: options.xSplits, size: options.xSize },
        { values: function (u, splits) { return splits.map(options.yFormat || String); }, size: 70 },
      ],
      series: [{}, { label: options.label, stroke: '#2f6fde', fill: options.bars ? 'rgba(47,111,222,0.55)' : 'rgba(47,111,222,0.10)', width: options.bars ? 1 : 1.5, paths: options.bars ? uPlot.paths.bars({ size: [0.6, 80] }) : undefined, points: { show: false } }],
    };
    return new uPlot(opts, [xs, ys], target);
  }
  function state() { return new URLSearchParams(location.search); }

  // ---- overview -----------------------------------------------------------
  async function overview() {
    var data = await api('/api/overview');
    clear(main);
    main.appendChild(el('h1', { text: 'Store' }));
    var s = data.store, t = data.total;
    main.appendChild(el('div', { 'class': 'card' }, [el('dl', { 'class': 'figures', id: 'store-figures' }, [
      figure('location', 'location', s.location, s.location),
      figure('backend', 'backend', s.backend, s.backend),
      figure('size on disk', 'sizeOnDisk', s.sizeOnDisk, s.sizeOnDisk === null ? 'n/a (server)' : size(s.sizeOnDisk)),
      figure('modules', 'modules', data.modules.length, number(data.modules.length)),
      figure('entries', 'records', s.records, number(s.records)),
      figure('hits', 'hits', t.hits, number(t.hits)),
      figure('hit rate', 'hitRate', t.hitRate, percent(t.hitRate)),
      figure('compute time stored', 'computeMs', t.computeMs, duration(t.computeMs)),
      figure('compute time saved', 'savedMs', t.savedMs, duration(t.savedMs)),
      figure('results', 'bytes', t.bytes, size(t.bytes)),
    ])]));
    var health = el('span', { id: 'health-result', 'class': 'muted', text: 'not checked' });
    var check = el('button', { id: 'check-health', text: 'Check health (verify)', onclick: async function () {
      check.disabled = true; health.className = 'muted'; health.textContent = 'checking every key…';
      try {
        var v = await api('/api/verify');
        health.className = v.ok ? 'ok' : 'error';
        health.textContent = v.ok ? 'ok: ' + number(v.checked) + ' keys checked, no problems' : number(v.problemCount) + ' problems in ' + number(v.checked) + ' keys checked; run memostrata verify --fix';
        if (!v.ok) v.problems.slice(0, 5).forEach(function (p) { health.appendChild(el('div', { 'class': 'mono', text: p.kind + ' ' + p.key + ' ' + p.message })); });
      } catch (error) { health.className = 'error'; health.textContent = error.message; }
      check.disabled = false;
    } });
    main.appendChild(el('div', { 'class': 'card' }, [el('strong', { text: 'Health ' }), check, ' ', health]));

    main.appendChild(el('h2', { text: 'Compute time saved per module' }));
    var chartBox = el('div', { 'class': 'card', id: 'saved-chart' });
    main.appendChild(chartBox);
    if (data.modules.length === 0) chartBox.textContent = 'No modules yet.';
    else {
      var names = data.modules.map(function (m) { return m.name; });
      var xs = names.map(function (_, i) { return i; });
      chart(chartBox, '', xs, data.modules.map(function (m) { return m.savedMs; }), {
        bars: true, label: 'saved', height: 240, xRange: [-0.5, names.length - 0.5], xSize: 40,
        xSplits: function () { return xs; },
        xValues: function (u, splits) { return splits.map(function (i) { var n = names[i] || ''; return n.length > 22 ? n.slice(0, 21) + '…' : n; }); },
        yFormat: duration,
      });
    }

    main.appendChild(el('h2', { text: 'Modules' }));
    var head = el('tr', null, ['module', 'entries', 'hits', 'misses', 'hit rate', 'compute', 'saved', 'results', 'errors', 'code versions'].map(function (h, i) {
      return el('th', { 'class': i > 0 && i < 9 ? 'num' : undefined, text: h });
    }));
    var rows = data.modules.map(function (m) {
      var versions = el('td', { 'data-field': 'versions', 'data-value': m.versions.join(',') }, m.versions.map(function (v) {
        return el('span', { 'class': v === m.latestVersion ? 'badge latest' : 'badge', title: v === m.latestVersion ? 'latest' : undefined, text: v === '' ? '(none)' : v });
      }));
      return el('tr', { 'data-module': m.name }, [
        el('td', null, [el('a', { href: moduleHref(m.name), 'data-field': 'name', text: m.name })].concat(m.pinned ? [' ', el('span', { 'class': 'badge pinned', 'data-field': 'pinned', text: 'pinned' })] : [])),
        cell('entries', m.entries, number(m.entries), 'num'),
        cell('hits', m.hits, number(m.hits), 'num'),
        cell('misses', m.misses, number(m.misses), 'num'),
        cell('hitRate', m.hitRate, percent(m.hitRate), 'num'),
        cell('computeMs', m.computeMs, duration(m.computeMs), 'num'),
        cell('savedMs', m.savedMs, duration(m.savedMs), 'num'),
        cell('bytes', m.bytes, size(m.bytes), 'num'),
        cell('errors', m.errors, number(m.errors), 'num'),
        versions,
      ]);
    });
    main.appendChild(el('table', { id: 'modules' }, [el('thead', null, [head]), el('tbody', null, rows)]));
  }

  // ---- module ---------------------------------------------------------------
  var COLUMNS = [
    { key: 'call', label: 'call', sort: 'call' },
    { key: 'version', label: 'version', sort: 'version' },
    { key: 'createdAt', label: 'created', sort: 'created' },
    { key: 'lastHitAt', label: 'last hit', sort: 'lastHit' },
    { key: 'hits', label: 'hits', sort: 'hits', num: true },
    { key: 'size', label: 'size', sort: 'size', num: true },
    { key: 'computeMs', label: 'compute', sort: 'compute', num: true },
    { key: 'savedMs', label: 'saved', sort: 'saved', num: true },
    { key: 'error', label: 'status' },
  ];

  async function modulePage(name) {
    var query = state();
    var view = {
      sort: query.get('sort') || 'call', order: query.get('order') || 'asc',
      call: query.get('call') || '', version: query.get('version') || '', status: query.get('status') || '',
      limit: Number(query.get('limit') || 50), offset: Number(query.get('offset') || 0),
    };
    clear(main);
    main.appendChild(el('div', { 'class': 'crumbs' }, [el('a', { href: '/', text: 'Overview' }), ' › module']));
    main.appendChild(el('h1', { id: 'module-name', text: name }));
    if (query.get('deleted')) main.appendChild(el('div', { 'class': 'notice', id: 'notice', text: query.get('cascade') ? 'Invalidated entry ' + query.get('deleted') + ' with the calls computed from it: ' + query.get('cascade') + ' calls removed.' : 'Deleted entry ' + query.get('deleted') + '.' }));
    var callInput = el('input', { id: 'filter-call', placeholder: 'hex prefix', size: 14, value: view.call });
    var versionSelect = el('select', { id: 'filter-version' }, [el('option', { value: '', text: 'all' })]);
    var statusSelect = el('select', { id: 'filter-status' }, [el('option', { value: '', text: 'all' }), el('option', { value: 'ok', text: 'result' }), el('option', { value: 'error', text: 'error' })]);
    statusSelect.value = view.status;
    var limitSelect = el('select', { id: 'page-size' }, [25, 50, 100, 200, 500].map(function (n) { return el('option', { value: n, text: n }); }));
    limitSelect.value = String(view.limit);
    var refresh = el('button', { id: 'refresh', text: 'Refresh' });
    var toolbar = el('div', { 'class': 'toolbar' }, [
      el('label', null, ['call digest starts with', callInput]),
      el('label', null, ['code version', versionSelect]),
      el('label', null, ['status', statusSelect]),
      el('label', null, ['rows per page', limitSelect]),
      refresh,
    ]);
    main.appendChild(toolbar);
    var pager = el('div', { 'class': 'pager' });
    var headRow = el('tr');
    var body = el('tbody');
    main.appendChild(pager);
    main.appendChild(el('table', { id: 'entries' }, [el('thead', null, [headRow]), body]));
    var writable = document.body.getAttribute('data-writable') === 'true';
    var modulePin = el('p', { id: 'module-pin', 'class': 'muted' });
    main.appendChild(modulePin);
    if (writable) {
      main.appendChild(el('h2', { text: 'Actions' }));
      var pinModule = el('button', { id: 'pin-module', onclick: async function () {
        try { await api('/api/modules/' + encodeURIComponent(name) + (pinModule.getAttribute('data-pinned') === 'true' ? '/unpin' : '/pin'), { method: 'POST' }); load(false); } catch (error) { showError(error); }
      } });
      main.appendChild(pinModule);
      main.appendChild(document.createTextNode(' '));
      main.appendChild(el('button', { 'class': 'danger', id: 'clear-module', text: 'Clear this module', onclick: async function () {
        if (!confirm('Remove every entry of ' + name + '?')) return;
        try { await api('/api/modules/' + encodeURIComponent(name) + '/clear', { method: 'POST' }); load(false); } catch (error) { showError(error); }
      } }));
    }
    COLUMNS.forEach(function (column) {
      var th = el('th', { 'class': (column.num ? 'num ' : '') + (column.sort ? 'sortable' : ''), 'data-sort': column.sort, text: column.label });
      if (column.sort) th.addEventListener('click', function () {
        if (view.sort === column.sort) view.order = view.order === 'asc' ? 'desc' : 'asc';
        else { view.sort = column.sort; view.order = column.num || column.sort === 'created' || column.sort === 'lastHit' ? 'desc' : 'asc'; }
        view.offset = 0; load(false);
      });
      headRow.appendChild(th);
    });
    var timer;
    callInput.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(function () { view.call = callInput.value.trim(); view.offset = 0; load(false); }, 250); });
    versionSelect.addEventListener('change', function () { view.version = versionSelect.value; view.offset = 0; load(false); });
    statusSelect.addEventListener('change', function () { view.status = statusSelect.value; view.offset = 0; load(false); });
    limitSelect.addEventListener('change', function () { view.limit = Number(limitSelect.value); view.offset = 0; load(false); });
    refresh.addEventListener('click', function () { load(true); });

    async function load(fresh) {
      var params = new URLSearchParams();
      ['sort', 'order', 'call', 'version', 'status'].forEach(function (k) { if (view[k]) params.set(k, view[k]); });
      params.set('limit', String(view.limit));
      params.set('offset', String(view.offset));
      history.replaceState(null, '', location.pathname + '?' + params.toString());
      if (fresh) params.set('refresh', '1');
      var data;
      try { data = await api('/api/modules/' + encodeURIComponent(name) + '/entries?' + params.toString()); }
      catch (error) { clear(body); body.appendChild(el('tr', null, [el('td', { colspan: COLUMNS.length, 'class': 'error', role: 'alert', text: error.message })])); return; }
      if (versionSelect.options.length !== data.versions.length + 1) {
        clear(versionSelect).appendChild(el('option', { value: '', text: 'all' }));
        data.versions.forEach(function (v) { versionSelect.appendChild(el('option', { value: v, text: v === '' ? '(none)' : v })); });
      }
      versionSelect.value = view.version;
      Array.prototype.forEach.call(headRow.children, function (th) {
        th.classList.remove('sorted-asc', 'sorted-desc');
        if (th.getAttribute('data-sort') === data.sort) th.classList.add('sorted-' + data.order);
      });
      modulePin.textContent = data.pinned ? 'Pinned: prune --max-size and maxBytes eviction keep every entry of this module.' : '';
      if (pinModule) {
        pinModule.textContent = data.pinned ? 'Unpin this module' : 'Pin this module';
        pinModule.setAttribute('data-pinned', String(data.pinned));
      }
      clear(body);
      data.entries.forEach(function (e) {
        body.appendChild(el('tr', { 'data-call': e.call }, [
          el('td', { 'class': 'mono' }, [el('a', { href: entryHref(name, e.call), title: e.call, 'data-field': 'call', text: e.call.slice(0, 12) })]),
          cell('version', e.version, e.version === '' ? '(none)' : e.version),
          cell('createdAt', e.createdAt, time(e.createdAt)),
          cell('lastHitAt', e.lastHitAt, time(e.lastHitAt)),
          cell('hits', e.hits, number(e.hits), 'num'),
          cell('size', e.size, e.error ? '-' : size(e.size), 'num'),
          cell('computeMs', e.computeMs, duration(e.computeMs), 'num'),
          cell('savedMs', e.savedMs, duration(e.savedMs), 'num'),
          el('td', null, [el('span', { 'class': e.error ? 'badge error' : 'badge', text: e.error ? 'error' : 'result' })].concat(e.pinned ? [' ', el('span', { 'class': 'badge pinned', 'data-field': 'pinned', text: 'pinned' })] : [])),
        ]));
      });
      if (data.entries.length === 0) body.appendChild(el('tr', null, [el('td', { colspan: COLUMNS.length, 'class': 'muted', text: 'No entries match.' })]));
      clear(pager);
      var first = data.matched === 0 ? 0 : data.offset + 1;
      var last = data.offset + data.entries.length;
      var prev = el('button', { id: 'prev', text: '‹ Previous', disabled: data.offset === 0, onclick: function () { view.offset = Math.max(0, view.offset - view.limit); load(false); } });
      var next = el('button', { id: 'next', text: 'Next ›', disabled: last >= data.matched, onclick: function () { view.offset += view.limit; load(false); } });
      pager.appendChild(prev);
      pager.appendChild(el('span', { id: 'range', 'data-matched': data.matched, 'data-total': data.total, text: number(first) + '–' + number(last) + ' of ' + number(data.matched) + (data.matched !== data.total ? ' matching (' + number(data.total) + ' entries)' : ' entries') }));
      pager.appendChild(next);
      pager.appendChild(el('span', { 'class': 'muted', id: 'indexed-at', text: data.indexedAt ? 'listed at ' + time(data.indexedAt) + ' (hit counts as of then; an entry page reads its record afresh)' : 'read from the store in key order; sorting and filtering are ready once the index of this module is built' }));
    }
    await load(false);
  }

  // ---- entry ------------------------------------------------------------------
  function valueSection(title, preview, id) {
    var box = el('section', { id: id }, [el('h2', { text: title })]);
    if (preview === null) { box.appendChild(el('p', { 'class': 'muted', text: '(a cached error, no result)' })); return box; }
    if (!preview.loaded) { box.appendChild(el('p', { 'class': 'muted', text: 'Not loaded: ' + preview.reason })); return box; }
    box.appendChild(el('pre', { 'class': 'value', text: JSON.stringify(preview.summary, null, 2) }));
    preview.plots.forEach(function (plot) {
      var caption = (plot.path === '' ? 'value' : plot.path) + ': ' + plot.type + '(' + number(plot.length) + ')' +
        (plot.min === null ? '' : ', min ' + round(plot.min) + ', max ' + round(plot.max) + ', mean ' + round(plot.mean)) +
        (plot.x.length < plot.length ? '; ' + plot.x.length + '-bucket downsample: each bucket from its min to its max, and its mean' : '');
      var target = el('div');
      var holder = el('div', { 'class': 'plot', 'data-plot': plot.path }, [el('div', { 'class': 'caption', text: caption }), readingNote(plot), target]);
      box.appendChild(holder);
      setTimeout(function () { rangeChart(target, plot); }, 0);
    });
    return box;
  }
  // How a large array was read: in windows from its blob, or (over the server's limit) from a sample, with a way to read it all.
  function readingNote(plot) {
    if (plot.read === null) return null;
    var r = plot.read;
    if (!r.sampled) return el('div', { 'class': 'reading', 'data-field': 'reading', 'data-sampled': 'false', text: 'read in part from the store: ' + number(r.windows) + (r.windows === 1 ? ' window, ' : ' windows, ') + size(r.bytesRead) + ', never loaded whole' });
    var query = new URLSearchParams(location.search);
    query.set('full', '1');
    return el('div', { 'class': 'reading sampled', 'data-field': 'reading', 'data-sampled': 'true' }, [
      'summary of ' + number(r.windows) + ' sampled windows (' + size(r.bytesRead) + ' of ' + size(r.bytes) + '); its figures and plot are of the sample. ',
      el('a', { href: location.pathname + '?' + query.toString(), id: 'read-full', text: 'Read it all' }),
    ]);
  }
  function rangeChart(target, plot) {
    if (typeof uPlot !== 'function') return;
    var format = function (u, splits) { return splits.map(function (v) { return Number(v.toPrecision(4)); }); };
    var edge = { stroke: 'rgba(47,111,222,0.45)', width: 1, points: { show: false } };
    return new uPlot({
      width: Math.min(target.clientWidth || 640, 900),
      height: 180,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false } },
      axes: [{}, { values: format, size: 70 }],
      series: [{}, Object.assign({ label: 'max' }, edge), Object.assign({ label: 'min' }, edge), { label: 'mean', stroke: '#2f6fde', width: 1.5, points: { show: false } }],
      bands: [{ series: [1, 2], fill: 'rgba(47,111,222,0.15)' }],
    }, [plot.x, plot.yMax, plot.yMin, plot.y], target);
  }

  function lineageTree(nodes, id) {
    if (nodes.length === 0) return el('p', { 'class': 'muted', id: id, text: '(none recorded)' });
    return el('ul', { 'class': 'tree', id: id }, nodes.map(function (n) { return lineageItem(n); }));
  }
  function lineageItem(n) {
    var text = n.module + ' ' + n.call.slice(0, 12);
    var label = n.state === 'stored'
      ? el('a', { href: entryHref(n.module, n.call), 'class': 'mono', 'data-module': n.module, 'data-call': n.call, title: n.call, text: text })
      : el('span', { 'class': 'mono muted', title: n.call, text: text + ' (' + (n.state === 'missing' ? 'not stored' : 'damaged record') + ')' });
    var note = n.cut === 'depth' ? ' …more' : n.cut === 'repeated' ? ' (shown above)' : n.cut === 'cycle' ? ' (cycle)' : '';
    return el('li', null, [label, n.version !== null && n.version !== '' ? ' ' : null, n.version !== null && n.version !== '' ? el('span', { 'class': 'badge', text: n.version }) : null, note,
      n.children.length > 0 ? el('ul', { 'class': 'tree' }, n.children.map(lineageItem)) : null]);
  }
  function showNeighbours(box, name, data) {
    clear(box);
    if (data.neighbours.length === 0) { box.appendChild(el('p', { 'class': 'muted', text: 'No other call of this module is stored.' })); return; }
    var rows = data.neighbours.map(function (n) {
      var what = n.differences.length === 0 ? 'same version, dependencies and arguments (keyed with other settings)'
        : n.differences.map(function (d) { return (d.kind === 'argument' ? 'argument ' + d.position : d.kind) + ' (' + d.detail + ')'; }).join('; ');
      return el('tr', { 'data-call': n.call }, [
        el('td', null, [el('a', { href: entryHref(name, n.call), 'class': 'mono', title: n.call, text: n.call.slice(0, 12) })]),
        el('td', { text: n.version === '' ? '(none)' : n.version }),
        el('td', { text: time(n.createdAt) }),
        el('td', { 'data-field': 'differences', text: what }),
      ]);
    });
    box.appendChild(el('table', { id: 'neighbour-table' }, [el('thead', null, [el('tr', null, ['call', 'version', 'created', 'what differs'].map(function (h) { return el('th', { text: h }); }))]), el('tbody', null, rows)]));
    box.appendChild(el('p', { 'class': 'muted', text: 'Compared ' + number(data.scanned) + ' stored calls' + (data.truncated ? ' (the first ones only)' : '') + '; arguments by content, numbered among the keyed ones.' }));
  }

  async function entryPage(name, call) {
    // ?full=1 reads very large arrays whole rather than from a sample of windows.
    var data = await api('/api/modules/' + encodeURIComponent(name) + '/entries/' + call + (state().get('full') === '1' ? '?full=1' : ''));
    var r = data.record;
    clear(main);
    main.appendChild(el('div', { 'class': 'crumbs' }, [el('a', { href: '/', text: 'Overview' }), ' › ', el('a', { href: moduleHref(name), id: 'module-link', text: name }), ' › entry']));
    main.appendChild(el('h1', { 'class': 'mono', id: 'entry-call', text: r.call }));
    main.appendChild(el('div', { 'class': 'card' }, [el('dl', { 'class': 'figures', id: 'record' }, [
      figure('module', 'module', r.module, r.module),
      figure('code version', 'version', r.version, r.version === '' ? '(none)' : r.version),
      figure('dependencies fingerprint', 'deps', r.deps, r.deps === '' ? '(none)' : r.deps),
      figure('created', 'createdAt', r.createdAt, time(r.createdAt)),
      figure('last hit', 'lastHitAt', r.lastHitAt, time(r.lastHitAt)),
      figure('hits', 'hits', r.hits, number(r.hits)),
      figure('compute time', 'computeMs', r.computeMs, duration(r.computeMs)),
      figure('time saved', 'savedMs', r.savedMs, duration(r.savedMs)),
      figure('result size', 'size', r.size, size(r.size)),
      figure('status', 'status', r.error ? 'error' : 'result', r.error ? 'error: ' + r.error.name + ': ' + r.error.message : 'result'),
      figure('pinned', 'pinned', data.pinned.entry || data.pinned.module, data.pinned.entry ? 'yes' : data.pinned.module ? 'yes (its module)' : 'no'),
    ])]));
    if (data.error) main.appendChild(el('p', { 'class': 'error', role: 'alert', text: data.error }));
    else {
      var inputs = el('section', { id: 'inputs' }, [el('h2', { text: 'Inputs' })]);
      if (data.inputs.length === 0) inputs.appendChild(el('p', { 'class': 'muted', text: '(none)' }));
      data.inputs.forEach(function (preview, i) { var s = valueSection('Input ' + i, preview, 'input-' + i); s.querySelector('h2').remove(); inputs.appendChild(el('h3', { text: 'args[' + i + ']' })); inputs.appendChild(s); });
      main.appendChild(inputs);
      main.appendChild(valueSection('Result', data.result, 'result'));
    }
    main.appendChild(el('h2', { text: 'Lineage' }));
    var entryApi = '/api/modules/' + encodeURIComponent(name) + '/entries/' + call;
    try {
      var lineage = await api(entryApi + '/lineage');
      main.appendChild(el('div', { 'class': 'card lineage' }, [
        el('h3', { text: 'Computed from' }), lineageTree(lineage.uses, 'lineage-uses'),
        el('h3', { text: 'Computed from it' }), lineageTree(lineage.usedBy, 'lineage-used-by'),
        el('p', { 'class': 'muted', text: 'Up to ' + lineage.depth + ' levels; open a call to follow it further.' }),
      ]));
    } catch (error) { main.appendChild(el('p', { 'class': 'error', role: 'alert', text: 'Lineage: ' + error.message })); }
    main.appendChild(el('h2', { text: 'Why its neighbours differ' }));
    var neighbourBox = el('div', { id: 'neighbours' });
    var explain = el('button', { id: 'explain-neighbours', text: 'Compare with the nearest stored calls', onclick: async function () {
      explain.disabled = true;
      clear(neighbourBox).appendChild(el('p', { 'class': 'muted', text: 'comparing…' }));
      try { showNeighbours(neighbourBox, name, await api(entryApi + '/neighbours')); }
      catch (error) { clear(neighbourBox).appendChild(el('p', { 'class': 'error', role: 'alert', text: error.message })); }
      explain.disabled = false;
    } });
    main.appendChild(el('div', { 'class': 'card' }, [explain, neighbourBox]));
    if (!data.readOnly) {
      main.appendChild(el('h2', { text: 'Actions' }));
      main.appendChild(el('button', { id: 'pin-entry', text: data.pinned.entry ? 'Unpin this entry' : 'Pin this entry', title: 'A pinned entry is never removed by prune --max-size or maxBytes eviction', onclick: async function () {
        try {
          await api(entryApi + (data.pinned.entry ? '/unpin' : '/pin'), { method: 'POST' });
          await entryPage(name, call);
        } catch (error) { showError(error); }
      } }));
      main.appendChild(document.createTextNode(' '));
      main.appendChild(el('button', { 'class': 'danger', id: 'delete-entry', text: 'Delete this entry', onclick: async function () {
        if (!confirm('Delete this entry of ' + name + '? Its values go too unless another entry uses them.')) return;
        try {
          await api('/api/modules/' + encodeURIComponent(name) + '/entries/' + call + '/delete', { method: 'POST' });
          location.href = moduleHref(name) + '?deleted=' + call;
        } catch (error) { showError(error); }
      } }));
      main.appendChild(document.createTextNode(' '));
      main.appendChild(el('button', { 'class': 'danger', id: 'cascade-entry', text: 'Invalidate with cascade', onclick: async function () {
        try {
          // A dry run first: the confirmation lists what goes.
          var plan = await api(entryApi + '/cascade');
          var lines = plan.calls.slice(0, 30).map(function (c) { return '  ' + c.module + ' ' + c.call.slice(0, 12); });
          if (plan.calls.length > 30) lines.push('  … and ' + (plan.calls.length - 30) + ' more');
          if (!confirm('Remove this entry and every call computed from it (' + plan.calls.length + ' calls)?\n' + lines.join('\n'))) return;
          var done = await api(entryApi + '/cascade', { method: 'POST' });
          location.href = moduleHref(name) + '?deleted=' + call + '&cascade=' + done.removed.records;
        } catch (error) { showError(error); }
      } }));
    }
  }

  // ---- leases ---------------------------------------------------------------
  async function leasesPage() {
    clear(main);
    main.appendChild(el('h1', { text: 'Running calls' }));
    main.appendChild(el('p', { 'class': 'muted', text: 'Calls computing now across processes and machines, from their leases in the store; refreshed every second.' }));
    var stamp = el('p', { 'class': 'muted', id: 'leases-updated' });
    var body = el('tbody');
    main.appendChild(stamp);
    main.appendChild(el('table', { id: 'leases' }, [el('thead', null, [el('tr', null, ['module', 'call', 'owner', 'status', 'started', 'last heartbeat', 'heartbeats', 'saved state'].map(function (h) { return el('th', { text: h }); }))]), body]));
    async function poll() {
      try {
        var data = await api('/api/leases');
        var now = Date.parse(data.now);
        clear(body);
        data.leases.forEach(function (l) {
          body.appendChild(el('tr', { 'data-call': l.call }, [
            el('td', null, [el('a', { href: moduleHref(l.module), text: l.module })]),
            el('td', { 'class': 'mono', title: l.call, text: l.call.slice(0, 12) }),
            el('td', { text: l.damaged ? '(damaged lease)' : l.host + ':' + l.pid }),
            el('td', null, [el('span', { 'class': l.ownerStatus === 'gone' ? 'badge error' : 'badge', text: l.ownerStatus })]),
            el('td', { text: time(l.startedAt) }),
            el('td', { text: l.heartbeatAt ? duration(Math.max(0, now - Date.parse(l.heartbeatAt))) + ' ago' : '-' }),
            el('td', { 'class': 'num', text: number(l.heartbeats) }),
            el('td', { text: l.savedState ? 'yes' : 'no' }),
          ]));
        });
        if (data.leases.length === 0) body.appendChild(el('tr', null, [el('td', { colspan: 8, 'class': 'muted', text: 'No calls running.' })]));
        stamp.textContent = 'updated ' + time(data.now) + ' (server ' + data.host + ')';
        stamp.className = 'muted';
      } catch (error) { stamp.textContent = 'update failed: ' + error.message; stamp.className = 'error'; }
    }
    await poll();
    setInterval(poll, 1000);
  }

  // ---- dispatch -------------------------------------------------------------
  var parts = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  var run = page === 'overview' ? overview() : page === 'module' ? modulePage(parts[1]) : page === 'entry' ? entryPage(parts[1], parts[3]) : page === 'leases' ? leasesPage() : Promise.resolve();
  run.then(function () { document.body.setAttribute('data-ready', 'true'); }, function (error) { clear(main); showError(error); document.body.setAttribute('data-ready', 'true'); });
})();
`;
