using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Distributed;

/// <summary>
/// The processes that share a computation: each holds a contiguous range of the samples (<see cref="Shard"/>),
/// computes its part, and the parts are summed across processes (<see cref="AllReduceSum(Span{double})"/>), so
/// every process ends with the result of the whole data set. <see cref="Single"/> (one process, no MPI) is the
/// default everywhere; <see cref="MpiCommunicator.World"/> spans the processes an MPI launcher started.
/// All processes must make the same collective calls in the same order.
/// </summary>
public abstract class Communicator
{
    /// <summary>This process's index, 0 .. <see cref="Size"/> - 1.</summary>
    public abstract int Rank { get; }

    /// <summary>The number of processes.</summary>
    public abstract int Size { get; }

    /// <summary>Whether this process writes output (rank 0).</summary>
    public bool IsRoot => Rank == 0;

    /// <summary>One process: sharding takes everything and reductions are the identity.</summary>
    public static Communicator Single { get; } = new SingleProcess();

    /// <summary>values = the sum over the processes of their values, the same bits on every process.</summary>
    public abstract void AllReduceSum(Span<double> values);

    /// <summary>True on every process when <paramref name="ok"/> was true on every process (a collective vote,
    /// e.g. before rank 0 writes a result that all processes must have completed).</summary>
    public abstract bool AllAgree(bool ok);

    /// <summary>The contiguous range of <paramref name="count"/> items this process owns:
    /// [count * rank / size, count * (rank + 1) / size), so the ranges cover the items in order and differ in
    /// length by at most one (a count that the size does not divide included; a range may be empty).</summary>
    public (int Start, int Count) Shard(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int start = (int)((long)count * Rank / Size), end = (int)((long)count * (Rank + 1) / Size);
        return (start, end - start);
    }

    /// <summary>Sums a tensor across the processes in place, in double precision (float tensors are rounded once
    /// at the end).</summary>
    public void AllReduceSum<T>(Tensor<T> tensor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Size == 1) return;
        var span = tensor.Span;
        if (typeof(T) == typeof(double))
        {
            AllReduceSum(System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(span));
            return;
        }
        var buffer = new double[span.Length];
        System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<T, double>(span, buffer);
        AllReduceSum(buffer);
        System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<double, T>(buffer, span);
    }

    private sealed class SingleProcess : Communicator
    {
        public override int Rank => 0;
        public override int Size => 1;
        public override void AllReduceSum(Span<double> values) { }
        public override bool AllAgree(bool ok) => ok;
    }
}
