// Stereo-Spot portal: upload in parts with a progress bar, then start; job pages refresh
// themselves; the play page says when the browser cannot show the video's picture, and signs
// its links again once they have expired.
// No inline script (the CSP forbids it) and no build step.
(function () {
  "use strict";

  // How many parts travel at once, and how often one is tried before the upload gives up
  // (waiting 1, 2, 4, 8, 16 s between tries: a minute for a connection to come back).
  var PARTS_IN_FLIGHT = 4;
  var ATTEMPTS = 6;
  // Part URLs signed in one request to the portal, ahead of their PUTs.
  var SIGNED_AHEAD = 10;
  // A job page says its updates have stopped after this many polls (2 s apart) unanswered.
  var POLLS_MISSED = 3;
  // The speed and time left are those of the last 10 s.
  var WINDOW_MS = 10000;
  // What the page says when the storage refuses it, not the connection.
  var REFUSED_CORS = "The storage refused the upload from this page (its CORS rules do not " +
    "allow this portal's address, most likely); tell the portal's operator, and once that is " +
    "put right choose the same file again to go on.";
  var REFUSED_ETAG = "The storage took a part but hid its ETag from this page (its CORS rules " +
    "do not expose it); tell the portal's operator, and once that is put right choose the " +
    "same file again to go on.";

  function uploadPage(form) {
    var bar = document.getElementById("upload-bar");
    var percent = document.getElementById("upload-percent");
    var message = document.getElementById("upload-message");
    var button = document.getElementById("upload-button");
    var fileInput = document.getElementById("file");
    var uploading = false;

    // Leaving the page mid-upload loses it (what arrived is kept: choosing the same file
    // again resumes); the browser asks first.
    window.addEventListener("beforeunload", function (event) {
      if (uploading) { event.preventDefault(); event.returnValue = ""; }
    });

    // What this page remembers of its upload, in this browser (see remember below).
    var remembered = "stereo-spot-upload:" + form.dataset.job;

    // The page comes with its controls disabled: without this script they would upload nothing.
    Array.prototype.forEach.call(form.querySelectorAll("input, button"), function (control) {
      control.disabled = false;
    });

    // An upload this browser began here and did not finish (a reload, a crash, a closed tab):
    // the same file chosen again goes on from where it stopped.
    var unfinished = recall(remembered);
    if (unfinished && typeof unfinished.identity === "string") {
      say("An upload of " + unfinished.identity.split("|").slice(0, -2).join("|") +
          " was under way; choose the same file to continue.");
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = fileInput.files[0];
      if (!file) { say("Choose a video file first.", true); return; }
      if (file.size === 0) {
        say(file.name + " is empty (0 bytes): choose another file.", true);
        return;
      }
      var limit = Number(form.dataset.maxBytes);
      if (file.size > limit) {
        say(file.name + " is " + tooLarge(file.size, limit) + ".", true);
        return;
      }
      var part = partProblem(document.getElementById("upload-start"),
                             document.getElementById("upload-end"));
      if (part) { say(part, true); return; }
      button.disabled = true;
      fileInput.disabled = true;
      var identity = [file.name, file.size, file.lastModified].join("|");
      var earlier = recall(remembered);
      if (earlier && earlier.complete && earlier.identity === identity) {
        // Uploaded already, and the start refused (another part, say): only start again.
        start(file.name);
        return;
      }
      uploading = true;
      document.getElementById("upload-progress").hidden = false;
      say("Uploading " + file.name + "…");
      uploadInParts(file, identity).then(function () {
        uploading = false;
        bar.value = 100;
        percent.textContent = "100 %";
        start(file.name);
      }, function (error) {
        uploading = false;
        refused(error, file.name);
      });
    });

    clearedOnChange(message, ["upload-start", "upload-end"]);

    // S3's multipart upload through the portal's API (portal/routes_uploads.py): each part a
    // PUT of its own straight to the storage, retried alone, several at once.
    function uploadInParts(file, identity) {
      return resumable(remembered, identity, file.size).then(function (upload) {
        var links = upload.links;
        var etags = {};
        var loaded = {};
        var signing = {};
        var sending = {};  // the XHR of each part in flight, by number
        var next = 1;
        var stopped = null;
        upload.received.forEach(function (part) {
          etags[part.number] = part.etag;
          loaded[part.number] = part.size;
        });

        // Bytes sent over the last seconds, for the speed and the time left.
        var samples = [];

        function show() {
          if (stopped) { return; }  // the upload is over: its page says why
          var sum = 0;
          Object.keys(loaded).forEach(function (n) { sum += loaded[n]; });
          var p = Math.min(99, Math.floor((sum / file.size) * 100));
          bar.value = p;
          percent.textContent = p + " %" + pace(sum);
        }

        function pace(sum) {
          var now = Date.now();
          samples.push([now, sum]);
          while (samples.length > 2 && now - samples[1][0] > WINDOW_MS) { samples.shift(); }
          var seconds = (now - samples[0][0]) / 1000;
          var rate = (sum - samples[0][1]) / seconds;
          if (seconds < 2 || rate <= 0) { return ""; }
          var left = (file.size - sum) / rate;
          return " · " + (rate / 1e6).toFixed(1) + " MB/s · " + (
            left < 60 ? "less than a minute left" :
            left < 5400 ? "about " + Math.round(left / 60) + " min left" :
            "about " + (left / 3600).toFixed(1) + " h left");
        }

        function signedUrl(number, again) {
          if (again || !signing[number]) {
            var numbers = [number];
            for (var n = number + 1; !again && n < number + SIGNED_AHEAD; n++) {
              if (n <= upload.part_count && !signing[n] && !etags[n]) { numbers.push(n); }
            }
            var batch = api(links.sign, { upload_id: upload.upload_id, numbers: numbers });
            numbers.forEach(function (n) {
              signing[n] = batch.then(function (signed) {
                return signed.parts.filter(function (part) { return part.number === n; })[0].url;
              });
            });
          }
          return signing[number];
        }

        function put(number, url) {
          var from = (number - 1) * upload.part_size;
          var blob = file.slice(from, Math.min(from + upload.part_size, file.size));
          return new Promise(function (resolve, reject) {
            var xhr = new XMLHttpRequest();
            var sent = false;
            sending[number] = xhr;
            xhr.addEventListener("loadend", function () { delete sending[number]; });
            // Dropped by dropInFlight, for the refusal that ended the upload.
            xhr.addEventListener("abort", function () { reject(stopped || partError(0, "")); });
            xhr.open("PUT", url);
            xhr.upload.addEventListener("progress", function (e) {
              sent = sent || e.loaded > 0;
              loaded[number] = e.loaded;
              show();
            });
            xhr.addEventListener("load", function () {
              var etag = xhr.getResponseHeader("ETag");
              if (xhr.status >= 200 && xhr.status < 300 && etag) {
                loaded[number] = blob.size;
                show();
                resolve(etag);
                return;
              }
              loaded[number] = 0;
              // Taken, but the storage's CORS rules hide the ETag the completion needs.
              var hidden = xhr.status >= 200 && xhr.status < 300;
              reject(hidden ? refusedByStorage(REFUSED_ETAG) :
                partError(xhr.status, xhr.responseText));
            });
            xhr.addEventListener("error", function () {
              loaded[number] = 0;
              // A browser says no more than "status 0" of both a dropped connection and a
              // storage whose CORS rules refuse this page (before a byte is sent): one that
              // answers a plain request is refusing, and trying again would not mend it.
              var refusable = !sent && crossOrigin(url);
              (refusable ? storageAnswers(url) : Promise.resolve(false)).then(function (answers) {
                reject(answers ? refusedByStorage(REFUSED_CORS) : partError(0, ""));
              });
            });
            xhr.send(blob);
          });
        }

        function send(number, attempt) {
          return signedUrl(number, attempt > 0).then(function (url) { return put(number, url); })
            .then(function (etag) { etags[number] = etag; }, function (error) {
              if (stopped || error.final || error.refused || attempt + 1 >= ATTEMPTS) {
                throw error;
              }
              var seconds = Math.pow(2, attempt);
              message.textContent = "The connection faltered; sending part " + number +
                " again in " + seconds + " s…";
              return wait(seconds * 1000).then(function () {
                if (stopped) { throw stopped; }  // another part ended the upload meanwhile
                message.textContent = "Uploading " + file.name + "…";
                return send(number, attempt + 1);
              });
            });
        }

        function worker() {
          while (next <= upload.part_count && etags[next]) { next++; }
          if (stopped || next > upload.part_count) { return Promise.resolve(); }
          var number = next++;
          return send(number, 0).then(worker, function (error) {
            var first = !stopped;
            stopped = stopped || error;
            if (first && error.final) { dropInFlight(); }
            throw error;
          });
        }

        // A refusal no other try mends (the job took another tab's upload, say): the parts
        // still going would be refused too, after minutes of sending on a slow link.
        function dropInFlight() {
          Object.keys(sending).forEach(function (number) { sending[number].abort(); });
        }

        show();
        var workers = [];
        for (var i = 0; i < PARTS_IN_FLIGHT; i++) { workers.push(worker()); }
        return Promise.all(workers).then(function () {
          var parts = [];
          for (var n = 1; n <= upload.part_count; n++) {
            parts.push({ number: n, etag: etags[n] });
          }
          return api(links.complete, { upload_id: upload.upload_id, parts: parts });
        }).then(function () {
          // Kept until the job starts: a start refused (a part past the video's end) is sent
          // again without a second upload of the same file.
          remember(remembered, { identity: identity, complete: true });
        }, function (error) {
          // A refusal that another try cannot mend drops the parts; a broken connection keeps
          // them for the same file chosen again.
          if (error.final) {
            forget(remembered);
            api(links.abort, { upload_id: upload.upload_id }).catch(function () {});
          }
          throw error;
        });
      });
    }

    // The upload this page began for the same file (name, size, date), if the storage still
    // holds it, with the parts already received; else a new one.
    function resumable(remembered, identity, size) {
      var earlier = recall(remembered);
      var uploadsUrl = form.dataset.uploadsUrl;
      if (earlier && !earlier.complete && earlier.identity === identity) {
        var url = earlier.links.received + "?upload_id=" + encodeURIComponent(earlier.upload_id);
        return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (response) { return response.ok ? response.json() : null; })
          .then(function (held) {
            if (!held) { return fresh(); }
            earlier.received = held.parts.filter(function (part) {
              var from = (part.number - 1) * earlier.part_size;
              return part.size === Math.min(earlier.part_size, earlier.size - from);
            });
            return earlier;
          }, fresh);
      }
      return fresh();

      function fresh() {
        return api(uploadsUrl, { size: size })
          .then(function (upload) {
            upload.identity = identity;
            remember(remembered, upload);
            upload.received = [];
            return upload;
          });
      }
    }

    function api(url, body) {
      return fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body)
      }).catch(function () {
        throw new Error("Could not reach the portal; check the connection and try again.");
      }).then(function (response) {
        if (response.status === 204) { return null; }
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (response.ok) { return data; }
          var error = new Error(typeof data.detail === "string" ? data.detail :
                                "The portal refused the upload (" + response.status + ").");
          error.final = response.status < 500;
          error.conflict = response.status === 409;
          error.gone = response.status === 404;
          throw error;
        });
      });
    }

    function partError(status, body) {
      var detail = null;
      try { detail = JSON.parse(body).detail; } catch (ignored) { /* S3 answers in XML */ }
      var error = new Error(
        status === 413 ? "The file is too large." :
        (status === 409 || status === 404) && detail ? detail :
        status === 404 ? "The storage no longer holds this upload; choose the file again to " +
          "upload it afresh." :
        status === 0 ? "The upload was interrupted; choose the same file again to resume it." :
        "The upload failed (" + status + ").");
      // An expired or refused signature is signed again; a missing upload or a started job,
      // a file too large, is not mended by another try.
      error.final = status === 404 || status === 409 || status === 413;
      error.conflict = status === 409;
      // The upload dropped: another one began, or the job started (S3's NoSuchUpload).
      error.gone = status === 404;
      return error;
    }

    // The storage (S3) refusing this page outright: the operator's to put right (the bucket's
    // CORS rules, docs/AWS.md); the parts that arrived are kept for the same file chosen again.
    function refusedByStorage(text) {
      var error = new Error(text);
      error.refused = true;
      return error;
    }

    function crossOrigin(url) {
      return new URL(url, window.location.href).origin !== window.location.origin;
    }

    // Whether the storage answers a request the browser may send anywhere (an opaque answer
    // is enough): no answer at all is a connection that is down.
    function storageAnswers(url) {
      return fetch(url, { method: "HEAD", mode: "no-cors", credentials: "omit", cache: "no-store" })
        .then(function () { return true; }, function () { return false; });
    }

    function start(name) {
      var fields = { source_name: name };
      var previewFirst = document.getElementById("preview-first");
      if (previewFirst && previewFirst.checked) { fields.preview = "on"; }
      ["start", "end"].forEach(function (name) {
        var input = document.getElementById("upload-" + name);
        if (input && input.value.trim()) { fields[name] = input.value.trim(); }
      });
      say("Uploaded. Checking the video…");
      fetch(form.dataset.startUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "X-CSRF-Token": form.dataset.csrf,
          "Accept": "application/json",
          "Content-Type": "application/x-www-form-urlencoded"
        },
        body: new URLSearchParams(fields)
      }).then(function (response) {
        return response.json().then(function (body) {
          // The job to watch: this one, or with "preview first" its preview.
          if (response.ok) {
            forget(remembered);
            window.location.assign(body.links.page);
            return;
          }
          // 409: the video is not there (any more), and the next try uploads it again; or the
          // job has failed or was cancelled meanwhile (see refused).
          if (response.status === 409) { forget(remembered); }
          var error = new Error(typeof body.detail === "string" ? body.detail : "Starting failed.");
          error.conflict = response.status === 409;
          refused(error, name);
        });
      }).catch(function () { fail("Could not reach the portal to start the job."); });
    }

    // A 409 is the job no longer waiting for this upload (another tab's upload started it, or
    // it was cancelled), or from the start the video missing, which another upload mends; a
    // 404 the upload dropped (another began, or the job started with another's). Their words
    // alone do not tell which, so the page asks the job where it stands.
    function refused(error, name) {
      if (!error.conflict && !error.gone) { fail(error.message); return; }
      jobNow().then(function (job) {
        if (job && job.status !== "created") {
          overtaken(job, error.gone ? ended(job, name) : error.message, name);
        } else { fail(error.message); }
      });
    }

    // What a failed job's page would say of an upload it dropped (a 404 names no job).
    function ended(job, name) {
      return "This job " + (job.cancelled ? "was cancelled" : "failed") + " while " + name +
        " was going; it takes no more uploads.";
    }

    function jobNow() {
      var url = "/api/jobs/" + encodeURIComponent(form.dataset.job);
      return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .catch(function () { return null; });
    }

    // The job went on without this upload: the form is not offered again (the job would
    // refuse it), the progress of an upload that is over goes, and the page leads to the job's.
    function overtaken(job, said, name) {
      forget(remembered);
      Array.prototype.forEach.call(form.children, function (child) {
        child.hidden = child !== message;
      });
      bar.value = 0;
      percent.textContent = "";
      message.className = job.status === "failed" ? "alert" : "hint";
      message.textContent = job.status === "failed" ? said + " " :
        "Another upload started this job while " + name + " was going: it converts that " +
        "upload's video, not this file. ";
      var link = document.createElement("a");
      link.href = (job.links && job.links.page) || window.location.pathname;
      link.textContent = "See the job's page";
      message.appendChild(link);
    }

    function fail(text) {
      say(text, true);
      button.disabled = false;
      fileInput.disabled = false;
    }

    // The page's word on the upload; a refusal in the alert style, news in the hint's.
    function say(text, alarming) {
      message.textContent = text;
      message.className = alarming ? "alert" : "hint";
    }
  }

  // "Only a part" as the portal would refuse it (PartRequest), said before anything is sent:
  // the browser's own check (the inputs' pattern) has refused what is no time at all.
  function partProblem(from, to) {
    if (!from || !to || !to.value.trim()) { return null; }
    var start = from.value.trim() ? secondsOf(from.value) : 0;
    var end = secondsOf(to.value);
    if (isNaN(start) || isNaN(end) || end > start) { return null; }  // the portal says why
    return "Please check: the end (" + shortNumber(end) + " s) must come after the start (" +
      shortNumber(start) + " s).";
  }

  // A "Please check" about the part goes once the part is changed: left standing, it would
  // speak of times no longer there while the browser says what is wrong with the new ones.
  function clearedOnChange(message, ids) {
    ids.forEach(function (id) {
      var input = document.getElementById(id);
      if (!input) { return; }
      input.addEventListener("input", function () {
        if (message.textContent.indexOf("Please check") === 0) {
          message.textContent = "";
          message.className = "hint";
        }
      });
    });
  }

  // "Convert again" checks its part as the upload page does, before the form goes.
  function againForm(form) {
    var message = document.getElementById("again-message");
    form.addEventListener("submit", function (event) {
      var part = partProblem(document.getElementById("start"), document.getElementById("end"));
      if (part) {
        event.preventDefault();
        message.textContent = part;
        message.className = "alert";
      }
    });
    clearedOnChange(message, ["start", "end"]);
  }

  // "Delete this job and its files" asks first (the CSP allows no inline onsubmit), and tells
  // the portal it did; without this script the portal asks on a page of its own.
  function askedFirst(form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
      if (form.elements.confirmed) { form.elements.confirmed.value = "yes"; }
    });
  }

  // As the portal says sizes (portal/uploads.py).
  function inWords(bytes) {
    return bytes >= Math.pow(1024, 3) ? (bytes / Math.pow(1024, 3)).toFixed(1) + " GiB" :
                                        (bytes / Math.pow(1024, 2)).toFixed(1) + " MiB";
  }

  // "65.0 MiB; this portal accepts videos of up to 64.0 MiB", in bytes when rounded the two
  // would read the same (portal/uploads.py).
  function tooLarge(size, limit) {
    var said = inWords(size);
    var most = inWords(limit);
    if (said === most) {
      said = size.toLocaleString("en-US") + " bytes";
      most = limit.toLocaleString("en-US") + " bytes (" + most + ")";
    }
    return said + "; this portal accepts videos of up to " + most;
  }

  // A time as stereo_spot.domain.parse_time reads it: seconds (90.5) or a clock (1:30,
  // 01:02:03.5); NaN for anything else.
  function secondsOf(text) {
    var fields = text.trim().split(":");
    var numbers = fields.map(function (field) {
      return /^(\d+(\.\d*)?|\.\d+)$/.test(field) ? Number(field) : NaN;
    });
    var clock = numbers.slice(0, -1).every(function (n) { return n === Math.floor(n); }) &&
                numbers.slice(1).every(function (n) { return n < 60; });
    if (fields.length > 3 || numbers.some(isNaN) || !clock) { return NaN; }
    return numbers.reduce(function (seconds, n) { return seconds * 60 + n; }, 0);
  }

  // As Python's "{:g}" writes a time in seconds: 3, 90.5, 0.25.
  function shortNumber(seconds) {
    return String(Number(seconds.toPrecision(6)));
  }

  function wait(ms) {
    return new Promise(function (resolve) { window.setTimeout(resolve, ms); });
  }

  // An upload a page began, kept in this browser until it completes, so that the job's page
  // opened again (after a reload, a crash, a closed laptop) resumes it; a browser that refuses
  // storage just does not resume.
  function remember(name, value) {
    try { window.localStorage.setItem(name, JSON.stringify(value)); } catch (ignored) { /* none */ }
  }

  function recall(name) {
    try { return JSON.parse(window.localStorage.getItem(name)); } catch (ignored) { return null; }
  }

  function forget(name) {
    try { window.localStorage.removeItem(name); } catch (ignored) { /* none */ }
  }

  function statusPage(section) {
    var url = section.dataset.pollUrl;
    var initial = section.dataset.status;
    var bar = document.getElementById("job-bar");
    var percent = document.getElementById("job-percent");
    var segments = document.getElementById("segments");
    var preparing = document.getElementById("preparing");
    var preparingPercent = document.getElementById("preparing-percent");

    // Polls that got no answer in a row, and the line that says so once there are a few:
    // the page keeps asking, and the line goes once the portal answers again.
    var missed = 0;
    var silence = document.getElementById("updates");

    function unanswered(text) {
      missed += 1;
      if (silence && missed >= POLLS_MISSED) {
        silence.textContent = text;
        silence.hidden = false;
      }
    }

    function poll() {
      var gone = false;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (response.status === 404) {
            // Deleted (another tab, `stereo-spot jobs delete`): nothing will bring it back.
            gone = true;
            if (silence) {
              silence.textContent = "This job is no longer there (it was deleted). ";
              var link = document.createElement("a");
              link.href = "/jobs?show=unfinished";
              link.textContent = "See the jobs not finished";
              silence.appendChild(link);
              silence.hidden = false;
            }
            return null;
          }
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (job) {
          if (!job) { return; }
          missed = 0;
          if (silence) { silence.hidden = true; }
          // Reloaded to show what changed: a video whose preview's run has read it is held,
          // and a conversion whose command was killed is stopped part-way, both in the same
          // status; the stopped page polls no more (nothing will move the job).
          if (job.status !== initial || String(job.held) !== section.dataset.held ||
              job.stopped) {
            window.location.reload();
            return;
          }
          var p = Math.round(job.progress * 100);
          if (bar) { bar.value = p; }
          if (percent) { percent.textContent = p + " %"; }
          if (segments) {
            segments.textContent = job.completed_segments + " / " + (job.total_segments || "?");
          }
          if (preparing && job.status === "chunking" && job.chunk_progress > 0) {
            preparing.hidden = false;
            preparingPercent.textContent = Math.round(job.chunk_progress * 100) + " %";
          }
        })
        .catch(function () {
          unanswered("Updates have stopped: the portal is not answering. This page keeps " +
                     "trying, and goes on by itself once it answers.");
        })
        .finally(function () { if (!gone) { window.setTimeout(poll, 2000); } });
    }
    window.setTimeout(poll, 2000);
  }

  // A video whose picture this browser cannot decode (HEVC in Chromium without the codec)
  // plays its sound over a black box and reports no error: only its picture size, 0 once it
  // has loaded, tells. The page says so and points to the download.
  function playPage(video) {
    var notice = document.getElementById("no-picture");
    // (Not on an error event: Chromium reports an expired signed URL's 403 as "not supported"
    // too, and the codec would be blamed for it.)
    function check() {
      if (video.readyState >= 1 && video.videoWidth === 0) { notice.hidden = false; }
    }
    ["loadedmetadata", "loadeddata"].forEach(function (name) {
      video.addEventListener(name, check);
    });
    check();
  }

  // The page's signed URLs work for STEREO_SPOT_DOWNLOAD_URL_SECONDS (an hour by default), and
  // the player fetches its video in ranges as it plays and seeks: a film longer than that, or
  // one left paused, would stop at the first range asked for after it (a 403, which Chromium
  // reports as "not supported"), and so would a subtitle track chosen late and the download.
  // Once they have expired the page asks the portal for fresh ones (the API's play links, as a
  // script gets them) and puts them in, the player where it was, playing or paused.
  function freshLinks(video) {
    var life = Number(video.dataset.expiresIn) * 1000;
    var signedAt = Date.now();
    var download = document.getElementById("download");
    var failed = document.getElementById("links-expired");
    var renewing = null;
    // Set while a fresh video URL has not loaded yet: an error then is the video's own.
    var swapped = false;
    // Whether the viewer wants it playing; an error may stop the player without a pause.
    var playing = !video.paused;

    // Some seconds early: a request on its way when the link runs out is refused too.
    function expired() { return Date.now() > signedAt + life - Math.min(30000, life / 5); }

    function renew() {
      if (!renewing) {
        var asked = Date.now();
        renewing = fetch(video.dataset.playUrl, {
          credentials: "same-origin", headers: { "Accept": "application/json" }
        }).then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        }).then(function (links) {
          signedAt = asked;
          renewing = null;
          if (download) { download.href = ours(links.download_url); }
          var tracks = video.querySelectorAll("track");
          links.subtitles.forEach(function (track, i) {
            // One loaded keeps its cues; one not loaded yet (off until chosen) is signed anew.
            if (tracks[i] && tracks[i].readyState !== 2) { tracks[i].src = ours(track.url); }
          });
          return links;
        }, function (error) {
          renewing = null;
          // (An error before then is no expiry, and this page's links may still work.)
          if (failed && expired()) { failed.hidden = false; }
          throw error;
        });
      }
      return renewing;
    }

    // The API gives whole URLs (for scripts); one on this portal is used as the page's own,
    // which a proxy's scheme or a second name for the host cannot make cross-origin.
    function ours(url) {
      var parsed = new URL(url, window.location.href);
      return parsed.host === window.location.host ? parsed.pathname + parsed.search : url;
    }

    function reload() {
      var at = video.currentTime;
      swapped = true;
      return renew().then(function (links) {
        video.addEventListener("loadedmetadata", function () {
          if (at) { video.currentTime = at; }
          // As the viewer left it meanwhile: a play pressed after a seek began this counts.
          if (playing) { video.play().catch(function () {}); }
        }, { once: true });
        video.src = ours(links.video_url);
      }, function () { swapped = false; });
    }

    video.addEventListener("play", function () {
      playing = true;
      if (!swapped && expired()) { reload(); }
    });
    video.addEventListener("pause", function () { if (!video.error) { playing = false; } });
    // A seek past what the player holds asks for a range: with the old link it would fail.
    video.addEventListener("seeking", function () { if (!swapped && expired()) { reload(); } });
    video.addEventListener("loadeddata", function () { swapped = false; });
    video.addEventListener("error", function () { if (!swapped) { reload(); } });

    Array.prototype.forEach.call(video.querySelectorAll("track"), function (track) {
      var tried = false;
      track.addEventListener("load", function () { tried = false; });
      track.addEventListener("error", function () {
        if (!tried) { tried = true; renew().catch(function () {}); }
      });
    });

    if (download) {
      download.addEventListener("click", function (event) {
        if (!expired()) { return; }
        event.preventDefault();
        // Its answer is an attachment: the browser saves it and stays on this page.
        renew().then(function (links) { window.location.assign(ours(links.download_url)); },
                     function () {});
      });
    }
  }

  // "Anaglyph glasses and colours" only with the anaglyph layout, the one with colours: the API
  // and `convert` refuse them with another as ignored (disabled, the select is not sent).
  function anaglyphOnly(select) {
    var radios = select.form.querySelectorAll('input[name="layout"]');
    function follow() {
      var chosen = select.form.querySelector('input[name="layout"]:checked');
      select.disabled = !chosen || chosen.value !== "anaglyph";
    }
    Array.prototype.forEach.call(radios, function (radio) {
      radio.addEventListener("change", follow);
    });
    follow();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var player = document.getElementById("player");
    if (player && document.getElementById("no-picture")) { playPage(player); }
    if (player && player.dataset.playUrl) { freshLinks(player); }
    Array.prototype.forEach.call(document.querySelectorAll("select[data-anaglyph-only]"),
                                 anaglyphOnly);
    var form = document.getElementById("upload-form");
    if (form) { uploadPage(form); }
    var again = document.getElementById("again-form");
    if (again) { againForm(again); }
    Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), askedFirst);
    var section = document.getElementById("job");
    if (section && section.dataset.pollUrl) { statusPage(section); }
  });
})();
