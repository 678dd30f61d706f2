namespace CurvNative.Pinn;

/// <summary>
/// Storage for the large per-step arrays of the natural-gradient methods, kept across steps: the residual Jacobian J
/// [N, P] and the kernel J J^T [N, N]. Allocated fresh every step, they cost a page fault per page first touched
/// whenever the runtime has handed the memory back to the system in between; kept, their pages stay mapped. A <see cref="ResidualLinearization"/> made with a workspace is valid until the next
/// linearisation with the same workspace (its J is the workspace's buffer); one workspace per optimizer, one thread.
/// </summary>
public sealed class StepWorkspace
{
    private double[]? _jacobian, _kernel;

    /// <summary>A buffer of exactly <paramref name="length"/> entries for J (contents arbitrary), reused while the
    /// length stays the same.</summary>
    internal double[] Jacobian(long length) => Take(ref _jacobian, length);

    /// <summary>A buffer of exactly <paramref name="length"/> entries for the kernel (contents arbitrary).</summary>
    internal double[] Kernel(long length) => Take(ref _kernel, length);

    private static double[] Take(ref double[]? buffer, long length)
    {
        if (length > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(length), $"A buffer of {length} entries exceeds the largest array ({Array.MaxLength}).");
        if (buffer is null || buffer.Length != length)
        {
            buffer = null; // let the old one go before the new one is allocated
            buffer = GC.AllocateUninitializedArray<double>((int)length);
        }
        return buffer;
    }
}
