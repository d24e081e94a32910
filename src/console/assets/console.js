// tiergate console: progressive enhancement only. Every page works without this file.
(function () {
  'use strict';
  var body = document.body;

  // Idle logoff warning (HIPAA 164.312(a)(2)(iii)). The server ends the session after the idle
  // limit whatever happens here; this only warns first and lets the user stay.
  var idle = Number(body.getAttribute('data-idle-seconds'));
  var warn = Number(body.getAttribute('data-warn-seconds'));
  var dialog = document.getElementById('idle-warning');
  if (idle && dialog) {
    var deadline = Date.now() + idle * 1000;
    var left = dialog.querySelector('[data-idle-left]');
    var returnFocus = null;
    var tick = function () {
      var remaining = Math.round((deadline - Date.now()) / 1000);
      if (remaining <= 0) {
        window.location.assign('/sign-in?ended=idle');
        return;
      }
      if (remaining <= warn) {
        if (dialog.hidden) {
          returnFocus = document.activeElement;
          dialog.hidden = false;
          dialog.querySelector('button').focus();
        }
        var m = Math.floor(remaining / 60),
          s = remaining % 60;
        left.textContent = (m ? m + (m === 1 ? ' minute ' : ' minutes ') : '') + s + (s === 1 ? ' second' : ' seconds');
      }
      window.setTimeout(tick, 1000);
    };
    window.setTimeout(tick, 1000);
    var form = dialog.querySelector('form[data-extend]');
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var token = form.querySelector('input[name="_csrf"]').value;
      fetch('/session/extend', { method: 'POST', credentials: 'same-origin', headers: { 'x-csrf-token': token, accept: 'application/json' } }).then(
        function (r) {
          if (!r.ok) {
            window.location.assign('/sign-in?ended=idle');
            return;
          }
          deadline = Date.now() + idle * 1000;
          dialog.hidden = true;
          if (returnFocus && returnFocus.focus) returnFocus.focus();
        },
      );
    });
    dialog.addEventListener('keydown', function (event) {
      if (event.key === 'Tab') {
        event.preventDefault();
        dialog.querySelector('button').focus();
      }
    });
  }

  // Break-glass time left, counted down in place.
  var countdown = document.querySelector('[data-countdown]');
  if (countdown) {
    var until = Date.parse(countdown.getAttribute('data-countdown'));
    var update = function () {
      var mins = Math.max(0, Math.ceil((until - Date.now()) / 60000));
      countdown.textContent = mins + (mins === 1 ? ' minute left' : ' minutes left');
      if (mins > 0) window.setTimeout(update, 15000);
    };
    update();
  }

  // Log verification progress, polled while it runs.
  var job = document.querySelector('[data-verify-job]');
  if (job && !/Verified|failed|could not/.test(job.querySelector('[data-verify-status]').textContent)) {
    var poll = function () {
      fetch('/compliance/integrity/verify/' + job.getAttribute('data-verify-job') + '.json', { credentials: 'same-origin' })
        .then(function (r) {
          return r.json();
        })
        .then(function (s) {
          if (s.phase === 'done' || s.phase === 'failed') {
            window.location.reload();
            return;
          }
          var progress = job.querySelector('progress');
          progress.value = s.phase === 'checking' ? 2 : 1;
          job.querySelector('[data-verify-status]').textContent =
            s.phase === 'checking' ? 'Step 2 of 2: checking ' + s.entries + ' entries…' : 'Step 1 of 2: reading the log…';
          window.setTimeout(poll, 500);
        });
    };
    window.setTimeout(poll, 300);
  }

  // Where the page's job starts, so a keyboard or screen-reader user need not Tab to it (GOV.UK):
  // after a failed post the error summary; after a search its results heading; on the search
  // itself the name field.
  var summary = document.getElementById('error-summary');
  var results = document.querySelector('[data-focus-on-load]');
  var search = document.querySelector('form[data-focus-field]');
  var start = summary || results || (search && document.getElementById(search.getAttribute('data-focus-field')));
  if (start) start.focus();
})();
