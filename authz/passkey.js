// Atrium: runs the WebAuthn ceremony of each form marked data-passkey
// ("create" or "get") when it is submitted, and submits the form again
// with the authenticator's response in its "credential" field. The forms
// are hidden until this script finds WebAuthn in the browser; without it
// (or without JavaScript) the rest of the page works as before.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function decode(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function encode(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: decode(c.id) });
    });
  }

  function toJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: encode(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: encode(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) {
        out.response.userHandle = encode(r.userHandle);
      }
    }
    return out;
  }

  function ceremony(kind, options) {
    var pk = options.publicKey;
    pk.challenge = decode(pk.challenge);
    if (kind === "create") {
      pk.user.id = decode(pk.user.id);
      pk.excludeCredentials = descriptors(pk.excludeCredentials);
      return navigator.credentials.create({ publicKey: pk });
    }
    pk.allowCredentials = descriptors(pk.allowCredentials);
    return navigator.credentials.get({ publicKey: pk });
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var problem = form.querySelector("[data-passkey-error]");
    var busy = false;
    form.hidden = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      if (problem) {
        problem.hidden = true;
      }
      // Options are single use: each ceremony starts from the page's copy.
      var options = JSON.parse(form.getAttribute("data-options"));
      ceremony(form.getAttribute("data-passkey"), options).then(function (cred) {
        form.elements.credential.value = JSON.stringify(toJSON(cred));
        form.submit();
      }).catch(function (err) {
        busy = false;
        if (problem) {
          problem.textContent = form.getAttribute("data-failed") || String(err);
          problem.hidden = false;
        }
      });
    });
  });
})();
