def test_x(client, sample_db):
    r = client.get("/candles")
    print(r.json())
    assert sample_db == 1800
