import HeraldWire
