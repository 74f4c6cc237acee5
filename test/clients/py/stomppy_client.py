"""Drives coilmq with stomp.py (Debian's python3-stomp) and prints what it saw as JSON.

Usage: stomppy_client.py PORT VERSION   (VERSION: 1.0, 1.1 or 1.2)
"""
import json
import sys
import threading
import time

import stomp

port = int(sys.argv[1])
version = sys.argv[2]
cls = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}[version]
kwargs = {} if version == "1.0" else {"heartbeats": (0, 0)}
conn = cls([("127.0.0.1", port)], **kwargs)


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.messages = []
        self.receipts = []
        self.errors = []
        self.cond = threading.Condition()

    def on_message(self, frame):
        with self.cond:
            self.messages.append({"headers": dict(frame.headers), "body": frame.body})
            self.cond.notify_all()

    def on_receipt(self, frame):
        with self.cond:
            self.receipts.append(frame.headers.get("receipt-id"))
            self.cond.notify_all()

    def on_error(self, frame):
        with self.cond:
            self.errors.append(frame.headers.get("message"))
            self.cond.notify_all()

    def wait(self, pred, timeout=5.0):
        end = time.time() + timeout
        with self.cond:
            while not pred():
                left = end - time.time()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


listener = Listener()
conn.set_listener("l", listener)
conn.connect(wait=True)
ack_mode = "client" if version == "1.0" else "client-individual"
conn.subscribe("/queue/py", id="q", ack=ack_mode, headers={"receipt": "sub-q"})
conn.subscribe("/topic/py", id="t", ack="auto", headers={"receipt": "sub-t"})
listener.wait(lambda: len(listener.receipts) >= 2)
conn.send("/queue/py", "hello queue", headers={"receipt": "send-q", "x-custom": "a:b"})
conn.send("/topic/py", "hello topic", headers={"receipt": "send-t"})
listener.wait(lambda: len(listener.messages) >= 2 and len(listener.receipts) >= 4)
queued = [m for m in listener.messages if m["headers"].get("destination") == "/queue/py"]
if queued:
    h = queued[0]["headers"]
    if version == "1.2":
        conn.ack(h["ack"], receipt="ack-q")
    elif version == "1.1":
        conn.ack(h["message-id"], h["subscription"], receipt="ack-q")
    else:
        conn.ack(h["message-id"], receipt="ack-q")
listener.wait(lambda: "ack-q" in listener.receipts)
conn.disconnect(receipt="bye")
print(json.dumps({"messages": listener.messages, "receipts": listener.receipts, "errors": listener.errors}))
