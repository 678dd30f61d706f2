using System.Numerics;

namespace CurvNative.Tensors;

/// <summary>
/// A scope in which the buffers of dead intermediate tensors are reused instead of collected. The stacked
/// derivative sweeps know exactly when a cotangent dies (after its node's rule has run and nothing else holds its
/// buffer); a caller that runs many sweeps of the same shapes (KFAC's backward pass per seed) opens a scope
/// around them, so the sweeps stop allocating fresh arrays: on a VM where a fresh page costs ~10 us and a 4 MB
/// array ~1000 of them, that churn, not arithmetic, was the cost.
/// <para>
/// Only buffers allocated while the scope is current (by the tensor factories, on this thread) can be
/// returned to it, and a buffer is handed out again only after it was returned, so a scope never recycles
/// memory it did not see born. Whoever returns a tensor vouches that nothing reads it or any view of its
/// buffer afterwards. Scopes are per thread and nest; disposing one drops its buffers for the GC.
/// </para>
/// <para>
/// A pool keeps what it is given until the scope closes, so it pays only where the same shapes come back
/// (sweep after sweep); around a single sweep it raises the peak (measured: the MLP Hessian-vector product
/// inside a scope peaked at 3.9x its gradient instead of 2.7x), which is why the matrix-vector products do not
/// open one.
/// </para>
/// <para>
/// When a scope closes, its returned buffers become <see cref="SpareBuffers{T}"/>, which the next scope (the next chunk
/// of points, the next call of the same sweep) rents before allocating.
/// </para>
/// </summary>
internal sealed class TensorPool<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Small buffers are cheap to allocate; tracking them would cost more than it saves.</summary>
    public const int DefaultMinLength = 4096;

    [ThreadStatic] private static TensorPool<T>? t_current;

    private readonly TensorPool<T>? _outer;
    private readonly int _minLength;
    private readonly bool _poison;
    private readonly HashSet<T[]> _owned = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<T[]> _free = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<int, Stack<T[]>> _byLength = [];
    private bool _disposed;

    private TensorPool(TensorPool<T>? outer, int minLength, bool poison) => (_outer, _minLength, _poison) = (outer, minLength, poison);

    /// <summary>The innermost open scope of this thread, or null.</summary>
    public static TensorPool<T>? Current => t_current;

    /// <summary>Opens a scope on this thread; dispose it on the same thread. Buffers shorter than
    /// <paramref name="minLength"/> are left to the GC. With <paramref name="poison"/> (for tests) a returned
    /// buffer is filled with NaN, so whatever still reads it afterwards computes NaN instead of plausible garbage.
    /// A setting not given is inherited from the enclosing scope, so a test's poisoned scope reaches the scopes
    /// the library opens inside it.</summary>
    public static TensorPool<T> Enter(int? minLength = null, bool? poison = null)
    {
        var outer = t_current;
        return t_current = new TensorPool<T>(outer, Math.Max(1, minLength ?? outer?._minLength ?? DefaultMinLength), poison ?? outer?._poison ?? false);
    }

    /// <summary>A returned buffer of at least <paramref name="length"/> and at most twice as many elements (the
    /// shortest there is; contents arbitrary), or null when the current scope has none; called by the tensor
    /// factories, whose tensor then covers the buffer's first <paramref name="length"/> elements. Not exactly the
    /// length: a last chunk of fewer columns (9 type-2 seeds in chunks of 5 and 4) reuses the first chunk's buffers.</summary>
    internal static T[]? Rent(int length)
    {
        var pool = t_current;
        if (pool is null || length < pool._minLength) return null;
        Stack<T[]>? best = null;
        int bestLength = int.MaxValue;
        foreach (var (l, stack) in pool._byLength)
            if (l >= length && l / 2 <= length && l < bestLength && stack.Count > 0) (best, bestLength) = (stack, l);
        if (best is null) return RentSpare(pool, length);
        var buffer = best.Pop();
        pool._free.Remove(buffer);
        return buffer;
    }

    /// <summary>A spare that fits (as in <see cref="Rent"/>), now owned by <paramref name="pool"/>; null when none fits.</summary>
    private static T[]? RentSpare(TensorPool<T> pool, int length)
    {
        var buffer = SpareBuffers<T>.Take(length);
        if (buffer is not null) pool._owned.Add(buffer);
        return buffer;
    }

    /// <summary>Records a buffer the factories just allocated as born in the current scope.</summary>
    internal static void Track(T[] buffer)
    {
        if (t_current is { } pool && buffer.Length >= pool._minLength) pool._owned.Add(buffer);
    }

    /// <summary>Whether <paramref name="buffer"/> was born in this scope and is not already returned.</summary>
    internal bool Owns(T[] buffer) => !_disposed && _owned.Contains(buffer) && !_free.Contains(buffer);

    /// <summary>Hands a dead tensor's buffer back for reuse, if it was born in this scope; a buffer already
    /// returned is ignored, so returning twice is harmless.</summary>
    public void Return(Tensor<T> tensor)
    {
        var buffer = tensor.Buffer;
        if (_disposed || !_owned.Contains(buffer) || !_free.Add(buffer)) return;
        if (_poison) buffer.AsSpan().Fill(T.NaN);
        if (!_byLength.TryGetValue(buffer.Length, out var stack)) _byLength[buffer.Length] = stack = new Stack<T[]>();
        stack.Push(buffer);
    }

    public void Dispose()
    {
        if (_disposed) return;
        if (!ReferenceEquals(t_current, this))
            throw new InvalidOperationException("TensorPool scopes must be disposed innermost first, on the thread that opened them.");
        _disposed = true;
        t_current = _outer;
        foreach (var buffer in _free) SpareBuffers<T>.Add(buffer);
        _owned.Clear(); _free.Clear(); _byLength.Clear();
    }
}
