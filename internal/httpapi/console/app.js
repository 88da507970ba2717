// sessiond console: confirmation dialogs for the revocation forms, and the
// overview's live figures and charts, polled from /ui/api/overview. Pages
// work without it: the server renders every figure, and a form sent without
// the dialog gets a confirmation page.
'use strict';

(function () {
  // Confirmation: a form with data-confirm asks in a modal dialog first.
  const dialog = document.getElementById('confirm-dialog');
  let pending = null;
  document.addEventListener('submit', function (e) {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || !dialog || typeof dialog.showModal !== 'function') {
      return;
    }
    e.preventDefault();
    pending = form;
    document.getElementById('confirm-question').textContent = form.dataset.confirm;
    document.getElementById('confirm-ok').textContent = form.dataset.confirmButton || 'Confirm';
    dialog.returnValue = '';
    dialog.showModal();
  });
  if (dialog) {
    dialog.addEventListener('close', function () {
      const form = pending;
      pending = null;
      if (!form) {
        return;
      }
      if (dialog.returnValue === 'ok') {
        form.elements.confirmed.value = '1';
        form.submit();
      } else {
        const button = form.querySelector('button');
        if (button) {
          button.focus();
        }
      }
    });
  }

  const root = document.getElementById('overview');
  if (!root) {
    return;
  }
  const url = root.dataset.poll;
  const period = Number(root.dataset.period) || 2000;
  const keep = Math.round(120000 / period); // two minutes of points
  const banner = document.getElementById('store-banner');

  const formats = {
    count: function (v) { return v == null ? '–' : Number(v).toLocaleString('en-US'); },
    when: when,
  };

  function when(v) {
    if (!v) {
      return 'never';
    }
    return v.replace('T', ' ').replace(/\.\d+/, '').replace('Z', ' UTC');
  }

  function bytes(n) {
    if (n < 1024) {
      return n + ' B';
    }
    let v = n;
    let i = -1;
    while (v >= 1024 && i < 4) {
      v /= 1024;
      i++;
    }
    return v.toFixed(1) + ' ' + 'KMGTP'[i] + 'iB';
  }

  function get(obj, path) {
    return path.split('.').reduce(function (o, k) { return o == null ? undefined : o[k]; }, obj);
  }

  // The series: a rate computed from two readings of a counter.
  const charts = {};
  root.querySelectorAll('figure[data-series]').forEach(function (fig) {
    charts[fig.dataset.series] = { fig: fig, points: [] };
  });

  function addPoint(name, t, v) {
    const c = charts[name];
    if (!c) {
      return;
    }
    c.points.push({ t: t, v: v });
    while (c.points.length > keep) {
      c.points.shift();
    }
    const out = c.fig.querySelector('[data-rate="' + name + '"]');
    out.textContent = v.toFixed(v < 10 ? 1 : 0) + '/s';
    draw(c);
  }

  function draw(c) {
    const pts = c.points;
    const line = c.fig.querySelector('polyline');
    if (pts.length < 2) {
      line.setAttribute('points', '');
      return;
    }
    const end = pts[pts.length - 1].t;
    const span = Math.max(end - pts[0].t, period); // fills the width until two minutes have passed
    let peak = 0;
    pts.forEach(function (p) { peak = Math.max(peak, p.v); });
    peak = peak > 0 ? peak : 1;
    const xy = pts.map(function (p) {
      const x = 300 - ((end - p.t) / span) * 300;
      const y = 96 - (p.v / peak) * 90;
      return x.toFixed(1) + ',' + y.toFixed(1);
    });
    line.setAttribute('points', xy.join(' '));
    const svg = c.fig.querySelector('svg');
    const label = svg.getAttribute('aria-label').replace(/: now.*$/, '');
    svg.setAttribute('aria-label', label + ': now ' + pts[pts.length - 1].v.toFixed(1) + ', peak ' + peak.toFixed(1));
  }

  function rate(now, before, t1, t0) {
    const dt = (t1 - t0) / 1000;
    if (!(dt > 0)) {
      return null;
    }
    return Math.max(0, (now - before) / dt); // a restarted replica counts from 0 again
  }

  function showBanner(text) {
    banner.textContent = text;
    banner.hidden = false;
  }

  let prev = null;

  function update(d) {
    root.querySelectorAll('[data-field]').forEach(function (el) {
      const f = formats[el.dataset.format || 'count'];
      el.textContent = f(get(d, el.dataset.field));
    });
    document.getElementById('updated').textContent = 'Figures of ' + when(d.time) + '.';
    const s = d.store;
    if (s.up) {
      banner.hidden = true;
    } else {
      showBanner('The session store is not answering (' + s.error + ') since ' + when(s.down_since) + '. ' +
        (s.read_at ? 'The figures below are the last known, read at ' + when(s.read_at) + '.' : 'No figures have been read yet.'));
    }
    const used = document.getElementById('memory-used');
    const text = document.getElementById('memory-text');
    const ratio = s.memory_max_bytes > 0 ? s.memory_used_bytes / s.memory_max_bytes : 0;
    const high = ratio > d.memory_alert_ratio;
    used.setAttribute('width', Math.min(100, ratio * 100).toFixed(1));
    used.setAttribute('class', high ? 'used high' : 'used');
    if (s.memory_max_bytes > 0) {
      text.textContent = bytes(s.memory_used_bytes) + ' of ' + bytes(s.memory_max_bytes) + ' (' +
        (ratio * 100).toFixed(1) + '%)' + (high ? ': above the alert threshold.' : '.');
    } else if (s.memory_used_bytes > 0) {
      text.textContent = bytes(s.memory_used_bytes) + ', and no maxmemory is set.';
    } else {
      text.textContent = 'No memory figures: the store reports none.';
    }

    const t = Date.parse(d.time);
    if (prev) {
      const p = prev;
      const v = rate(d.replica.validations, p.replica.validations, t, Date.parse(p.time));
      if (v != null) {
        addPoint('validations', t, v);
      }
      if (s.read_at && p.store.read_at && s.read_at !== p.store.read_at) {
        const t1 = Date.parse(s.read_at);
        const t0 = Date.parse(p.store.read_at);
        const c = rate(s.created, p.store.created, t1, t0);
        const r = rate(s.invalidated, p.store.invalidated, t1, t0);
        if (c != null) {
          addPoint('creates', t1, c);
        }
        if (r != null) {
          addPoint('revocations', t1, r);
        }
      }
    }
    prev = d;
  }

  let lastGood = null;

  function poll() {
    fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' })
      .then(function (resp) {
        if (resp.status === 401) {
          window.location.assign('/ui/login?expired=1');
          return null;
        }
        if (!resp.ok) {
          throw new Error('sessiond answered ' + resp.status);
        }
        return resp.json();
      })
      .then(function (d) {
        if (d) {
          lastGood = d.time;
          update(d);
        }
      })
      .catch(function () {
        showBanner('sessiond is not answering. ' +
          (lastGood ? 'The figures below are the last known, of ' + when(lastGood) + '.' : ''));
      })
      .finally(function () {
        window.setTimeout(poll, period);
      });
  }
  poll();
})();
