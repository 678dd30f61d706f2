namespace CurvNative.Operators.Curvature;

/// <summary>
/// The random stream of one sample in the Monte-Carlo Fisher and KFAC: SplitMix64 (Steele, Lea and Flood 2014)
/// keyed by (seed, sample index), so a sample's draws do not depend on the batching. A <see cref="Random"/> so the
/// losses' sampling API takes it, with every virtual member overridden: a derived Random that fell back to a base
/// member would seed a hidden generator at random, and seeding <c>new Random(int)</c> itself (a 56-word
/// subtractive generator per sample) was ~4% of the MLP's KFAC construction.
/// </summary>
internal sealed class SampleStream : Random
{
    private ulong _state;

    public SampleStream(int seed, int index)
        => _state = unchecked(((ulong)(uint)seed << 32 | (uint)index) * 0xD1B54A32D192ED03UL + 0x9E3779B97F4A7C15UL);

    private ulong NextUInt64()
    {
        ulong z = unchecked(_state += 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, bound) by Lemire's multiply-shift; the bias is below 2^-32 for 32-bit bounds.</summary>
    private ulong Below(ulong bound) => (ulong)(((UInt128)NextUInt64() * bound) >> 64);

    public override int Next() => (int)(NextUInt64() >> 33);

    // The int ranges are the long ones: the same draw, and a result inside the int range.
    public override int Next(int maxValue) => (int)NextInt64(maxValue);

    public override int Next(int minValue, int maxValue) => (int)NextInt64(minValue, maxValue);

    public override long NextInt64() => (long)(NextUInt64() >> 1);

    public override long NextInt64(long maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxValue);
        return (long)Below((ulong)maxValue);
    }

    public override long NextInt64(long minValue, long maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minValue, maxValue);
        return unchecked(minValue + (long)Below((ulong)(maxValue - minValue)));
    }

    public override double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public override float NextSingle() => (NextUInt64() >> 40) * (1.0f / (1U << 24));

    protected override double Sample() => NextDouble();

    public override void NextBytes(byte[] buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        NextBytes(buffer.AsSpan());
    }

    public override void NextBytes(Span<byte> buffer)
    {
        while (buffer.Length >= 8) { BitConverter.TryWriteBytes(buffer, NextUInt64()); buffer = buffer[8..]; }
        if (buffer.Length > 0)
        {
            Span<byte> last = stackalloc byte[8];
            BitConverter.TryWriteBytes(last, NextUInt64());
            last[..buffer.Length].CopyTo(buffer);
        }
    }
}
