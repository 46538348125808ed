// Historia — progressive enhancement only. Every page works without this
// file: forms post to the server, links navigate. Loaded with `defer` from
// 'self' (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";

  // Ask before destructive or irreversible actions (buttons and forms
  // marked data-confirm="question").
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    var q = f.getAttribute("data-confirm") ||
      (ev.submitter && ev.submitter.getAttribute("data-confirm"));
    if (q && !window.confirm(q)) {
      ev.preventDefault();
    }
  });

  // Idle time-out: the server refuses an idle session anyway; this only
  // takes the user to the login page when the session has lapsed.
  var body = document.body;
  var idle = parseInt(body.getAttribute("data-idle-seconds") || "0", 10);
  if (idle > 0) {
    var timer;
    var reset = function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        window.location.assign("/login?expired=1");
      }, idle * 1000);
    };
    ["click", "keydown", "scroll"].forEach(function (e) {
      document.addEventListener(e, reset, { passive: true });
    });
    reset();
  }

  // Filter a table client-side as the user types (the server search still
  // works without it).
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-filter"));
    if (!table) { return; }
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });
  // Passkeys (WebAuthn). The server sends the options of
  // navigator.credentials.create/get as JSON with binary fields in
  // base64url, and takes the credential back the same way. Without
  // WebAuthn the passkey buttons stay hidden (the login step) or post
  // their form (the account page).
  var b64uDecode = function (s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = window.atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  };
  var b64uEncode = function (buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return window.btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  var postJSON = function (url, body) {
    return window.fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {})
    });
  };
  var credentialJSON = function (cred) {
    var r = cred.response;
    var resp = { clientDataJSON: b64uEncode(r.clientDataJSON) };
    if (r.attestationObject) {
      resp.attestationObject = b64uEncode(r.attestationObject);
      if (r.getTransports) { resp.transports = r.getTransports(); }
    } else {
      resp.authenticatorData = b64uEncode(r.authenticatorData);
      resp.signature = b64uEncode(r.signature);
      if (r.userHandle) { resp.userHandle = b64uEncode(r.userHandle); }
    }
    return {
      id: cred.id,
      rawId: b64uEncode(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: resp
    };
  };
  var decodeDescriptors = function (list) {
    (list || []).forEach(function (c) { c.id = b64uDecode(c.id); });
  };
  var passkeyError = function (box) {
    var el = document.getElementById("passkey-error");
    if (el) {
      el.textContent = box.getAttribute("data-error") || "";
      el.hidden = false;
    }
  };
  var webauthn = !!(window.PublicKeyCredential && navigator.credentials);

  // The second step of a login: "use a passkey".
  document.querySelectorAll("[data-webauthn=login]").forEach(function (box) {
    var button = box.querySelector("button");
    var form = document.getElementById("mfa-form");
    var token = form && form.querySelector("input[name=mfa_token]");
    if (!webauthn || !button || !token) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      postJSON(box.getAttribute("data-begin"), { mfa_token: token.value }).then(function (res) {
        if (!res.ok) { throw new Error("begin " + res.status); }
        return res.json();
      }).then(function (opts) {
        var pk = opts.publicKey;
        pk.challenge = b64uDecode(pk.challenge);
        decodeDescriptors(pk.allowCredentials);
        return navigator.credentials.get({ publicKey: pk });
      }).then(function (cred) {
        // From here the mfa_token is spent, right or wrong.
        return postJSON(box.getAttribute("data-finish"), { mfa_token: token.value, credential: credentialJSON(cred) }).then(function (res) {
          if (res.ok) {
            return res.json().then(function (j) { window.location.assign(j.location); });
          }
          window.location.assign(res.status === 429 ? "/login?error=locked" : "/login?error=passkey");
        });
      }).catch(function () {
        // Cancelled or refused before the answer: the code still works.
        button.disabled = false;
        passkeyError(box);
      });
    });
  });

  // The account page: "register a passkey".
  document.querySelectorAll("form[data-webauthn=register]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!webauthn) { return; }
      ev.preventDefault();
      var button = form.querySelector("button");
      if (button) { button.disabled = true; }
      postJSON(form.getAttribute("data-begin")).then(function (res) {
        if (res.status === 401) {
          // The last proof of a factor is too old: the form asks for it.
          form.submit();
          return null;
        }
        if (!res.ok) { throw new Error("begin " + res.status); }
        return res.json().then(function (opts) {
          var pk = opts.publicKey;
          pk.challenge = b64uDecode(pk.challenge);
          pk.user.id = b64uDecode(pk.user.id);
          decodeDescriptors(pk.excludeCredentials);
          return navigator.credentials.create({ publicKey: pk });
        }).then(function (cred) {
          return postJSON(form.getAttribute("data-finish"), credentialJSON(cred));
        }).then(function (res) {
          if (!res.ok) { throw new Error("finish " + res.status); }
          return res.json();
        }).then(function (j) {
          window.location.assign(j.location);
        });
      }).catch(function () {
        if (button) { button.disabled = false; }
        passkeyError(form);
      });
    });
  });
})();
